$(eval $(call program,sluice-auth,listen/auth,sluice-local,,))
