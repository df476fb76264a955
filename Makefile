# revm: native Linux VMs for Redox OS.
#   make         build everything into build/ (a prefix-shaped tree: bin/, lib/revm/)
#   make test    install missing packages, build, run every test (tests/run.sh)
#   make bench   run the benchmarks (tests/bench/run.sh), printing ratios
#   make fuzz    run every fuzz target for FUZZ_SECONDS each
#   make demo    build the three images from the embedded offline default and boot the app VM
# Quiet by default (CI logs show results, not compiler lines); V=1 shows every command.
ifndef V
MAKEFLAGS += -s
endif
export TOP   := $(CURDIR)
export BUILD := $(CURDIR)/build
COMPONENTS   := mkimage bridge
# Built with everything, not fuzzed: treelist and mk-extract for the e2e tests.
TOOLS        := tests/tools

all:
	@for c in $(COMPONENTS) $(TOOLS); do $(MAKE) --no-print-directory -C $$c all || exit 1; done

deps:
	@scripts/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

fuzz: all
	@for c in $(COMPONENTS); do $(MAKE) --no-print-directory -C $$c fuzz || exit 1; done

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

clean:
	rm -rf build

.PHONY: all deps test bench fuzz demo clean
