# sluice build. GNU make; `make -j` safe; header dependencies come from -MMD.
#
# Each program folder holds a module.mk that calls one of the two macros
# below, so adding a program never means editing this file:
#   $(eval $(call program,NAME,DIR,INTERNAL_LIBS,PKGS,LDLIBS))
#   $(eval $(call library,NAME,DIR,PKGS))
# A program's non-main sources form lib<NAME>.a, which the tests link.

CXX      ?= g++
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -Wall -Wextra -Wformat=2 -pipe
CPPFLAGS += -I. -MMD -MP -D_GNU_SOURCE
PKG_CONFIG ?= pkg-config

BUILD := build
BIN   := bin
PY    := /usr/bin/python3

# toml++ is used header-only, and the C++ runtime linked statically: a
# program's start then costs little more than a C program's (no libstdc++
# relocations), which matters for sendmail, run once per message by scripts.
# --as-needed keeps sqlite and OpenSSL out of programs that do not use them.
COMMON_PKGS := sqlite3 libcrypto libssl
CPPFLAGS += -DTOML_HEADER_ONLY=1
LDFLAGS  ?=
LDFLAGS  += -static-libstdc++ -static-libgcc -Wl,--as-needed
pkg_cflags = $(if $(strip $(1)),$(shell $(PKG_CONFIG) --cflags $(1)))
pkg_libs   = $(if $(strip $(1)),$(shell $(PKG_CONFIG) --libs $(1)))

ALL_PROGRAMS :=
ALL_LIBS :=
ALL_PKGS := $(COMMON_PKGS)
ALL_LDLIBS := -lcrypt -lpthread

.PHONY: all run test unit integration bench fuzz clean deps install
all:

# --- common library -------------------------------------------------------
COMMON_SRC := $(wildcard common/*.cpp)
COMMON_OBJ := $(COMMON_SRC:%.cpp=$(BUILD)/%.o)
COMMON_LIB := $(BUILD)/lib/libsluice-common.a
$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^
$(COMMON_OBJ): CPPFLAGS += $(call pkg_cflags,$(COMMON_PKGS))

define library
$(1)_SRC := $$(wildcard $(2)/*.cpp)
$(1)_OBJ := $$($(1)_SRC:%.cpp=$(BUILD)/%.o)
$(1)_LIB := $(BUILD)/lib/lib$(1).a
$(1)_PKGS := $(3)
$$($(1)_LIB): $$($(1)_OBJ)
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
$$($(1)_OBJ): CPPFLAGS += $$(call pkg_cflags,$(COMMON_PKGS) $(3))
ALL_LIBS += $(1)
ALL_PKGS += $(3)
endef

define program
$(1)_SRC := $$(filter-out $(2)/main.cpp,$$(wildcard $(2)/*.cpp))
$(1)_OBJ := $$($(1)_SRC:%.cpp=$(BUILD)/%.o)
$(1)_LIB := $(BUILD)/lib/lib$(1).a
$(1)_PKGS := $(4)
# Named by convention, so a program may be included before the libraries it uses.
$(1)_DEPLIBS := $$(foreach l,$(3),$(BUILD)/lib/lib$$(l).a)
$$($(1)_LIB): $$($(1)_OBJ)
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
$$($(1)_OBJ) $(BUILD)/$(2)/main.o: CPPFLAGS += $$(call pkg_cflags,$(COMMON_PKGS) $(4) $$(foreach l,$(3),$$($$(l)_PKGS)))
$(BIN)/$(1): $(BUILD)/$(2)/main.o $$($(1)_LIB) $$($(1)_DEPLIBS) $(COMMON_LIB)
	@mkdir -p $$(@D)
	$$(CXX) $$(CXXFLAGS) $$(LDFLAGS) -o $$@ $(BUILD)/$(2)/main.o $$($(1)_LIB) $$($(1)_DEPLIBS) $(COMMON_LIB) \
	  $$(call pkg_libs,$(COMMON_PKGS) $(4) $$(foreach l,$(3),$$($$(l)_PKGS))) $(5) -lcrypt -lpthread
ALL_PROGRAMS += $(1)
ALL_LIBS += $(1)
ALL_PKGS += $(4)
ALL_LDLIBS += $(5)
endef

MODULES := $(sort $(wildcard */module.mk */*/module.mk))
include $(MODULES)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c -o $@ $<

all: $(addprefix $(BIN)/,$(ALL_PROGRAMS)) $(BIN)/unit-tests

# --- unit tests (Catch2) ---------------------------------------------------
UNIT_SRC := $(wildcard tests/unit/*.cpp)
UNIT_OBJ := $(UNIT_SRC:%.cpp=$(BUILD)/%.o)
ALL_LIB_FILES = $(foreach l,$(ALL_LIBS),$($(l)_LIB))
$(UNIT_OBJ): CPPFLAGS += $(call pkg_cflags,$(sort $(ALL_PKGS)))
$(BIN)/unit-tests: $(UNIT_OBJ) $(ALL_LIB_FILES) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJ) -Wl,--start-group $(ALL_LIB_FILES) $(COMMON_LIB) -Wl,--end-group \
	  $(call pkg_libs,$(sort $(ALL_PKGS))) $(sort $(ALL_LDLIBS))

# --- fuzz targets (clang libFuzzer): tests/fuzz/NAME.cpp -> bin/fuzz-NAME ---
FUZZ_SRC := $(wildcard tests/fuzz/*.cpp)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.cpp=$(BIN)/fuzz-%)
FUZZ_CXX := clang++
FUZZ_FLAGS := -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE -DTOML_HEADER_ONLY=1
# Each fuzz target names the sources it needs on a `// fuzz-sources:` line;
# it is rebuilt when any source of the tree changes (clang builds it whole).
FUZZ_DEPS := $(wildcard common/*.[ch]pp */*/*.[ch]pp)
$(BIN)/fuzz-%: tests/fuzz/%.cpp $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(call pkg_cflags,$(COMMON_PKGS)) -o $@ $< \
	  $$(sed -n 's|^// fuzz-sources: ||p' $<) $(call pkg_libs,$(COMMON_PKGS)) -lcrypt
fuzz-build: $(FUZZ_BIN)
FUZZ_SECONDS ?= 300
fuzz: $(FUZZ_BIN)
	tests/fuzz/run-all $(FUZZ_SECONDS)

# --- entry points ----------------------------------------------------------
deps:
	@admin/deps.sh

test: deps
	$(MAKE) -j$$(nproc) all fuzz-build
	$(BIN)/unit-tests
	tests/fuzz/run-all 20
	$(PY) -m pytest -q -p timeout --timeout=600 tests/integration

unit: all
	$(BIN)/unit-tests

run: deps
	$(MAKE) -j$$(nproc) all
	admin/run-dev.sh

bench: deps
	$(MAKE) -j$$(nproc) all
	tests/bench/run-all

clean:
	rm -rf $(BUILD) $(BIN)

# Only our objects' dependency files (build/postfix holds an unpacked package).
-include $(shell find $(BUILD) -path $(BUILD)/postfix -prune -o -type f -name '*.d' -print 2>/dev/null)

# --- install: the programs into $(PREFIX)/sbin; as root, the accounts --------
# sluice-inject becomes setgid sluice-q when that group exists, and `sluice
# setup` (root only) makes the accounts and the ownership of the instance
# of /etc/sluice/sluice.toml (or $SLUICE_CONFIG) when there is one.
PREFIX ?= /usr/local
SBIN_DIR = $(DESTDIR)$(PREFIX)/sbin
install: $(addprefix $(BIN)/,$(ALL_PROGRAMS)) $(BIN)/mailq
	install -d $(SBIN_DIR)
	for f in $(notdir $(addprefix $(BIN)/,$(ALL_PROGRAMS))); do install -m 0755 $(BIN)/$$f $(SBIN_DIR)/$$f; done
	ln -sfn sendmail $(SBIN_DIR)/mailq
	if [ "$$(id -u)" = 0 ] && getent group sluice-q >/dev/null; then \
	  chown root:sluice-q $(SBIN_DIR)/sluice-inject && chmod 02755 $(SBIN_DIR)/sluice-inject; fi
	if [ "$$(id -u)" = 0 ] && [ -z "$(DESTDIR)" ]; then $(SBIN_DIR)/sluice setup; fi
