$(eval $(call program,sendmail,admin/sendmail,sluice-queue,,))

# mailq is sendmail under another name (argv[0]), like Postfix's and Sendmail's.
$(BIN)/mailq: $(BIN)/sendmail
	ln -sfn sendmail $@
all: $(BIN)/mailq
