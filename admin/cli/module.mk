$(eval $(call program,sluice,admin/cli,sluice-queue,,))
