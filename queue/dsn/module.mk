$(eval $(call library,sluice-dsn,queue/dsn,))
