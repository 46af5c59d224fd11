$(eval $(call program,sluice-local,delivery/local,,,))
