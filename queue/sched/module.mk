$(eval $(call program,sluice-sched,queue/sched,sluice-queue sluice-dsn,,))
