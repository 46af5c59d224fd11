$(eval $(call program,sluice-sms,delivery/sms,,gmime-3.0 libcurl,))
