$(eval $(call program,sluice-filter-shell,filters/shell,sluice-queue,,))
