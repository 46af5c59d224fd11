$(eval $(call program,sluice-injectd,queue/injectd,sluice-queue,,))
