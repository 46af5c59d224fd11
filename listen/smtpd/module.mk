$(eval $(call program,sluice-smtpd,listen/smtpd,sluice-queue,,))
