$(eval $(call program,sluice-inject,queue/inject,sluice-queue,,))
