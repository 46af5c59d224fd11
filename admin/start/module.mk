$(eval $(call program,sluice-start,admin/start,,,))
