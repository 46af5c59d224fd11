$(eval $(call program,sluice-remote,delivery/remote,,libunbound,))
