$(eval $(call library,sluice-queue,queue/store,))
