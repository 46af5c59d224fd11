$(eval $(call program,sluice-quota,delivery/quota,sluice-local,,))
