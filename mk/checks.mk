# Shared check targets for a component. The including Makefile defines TESTS (cmocka test
# names), FUZZERS (libFuzzer target names), SAN and FZ (object dirs), and the rules that build
# $(SAN)/tests/<test> and $(FZ)/bin/<fuzzer>.
#   unit        run every unit test (ASan + UBSan)
#   fuzz-smoke  replay each corpus, then 10 s of new inputs (part of `make test`)
#   fuzz        FUZZ_SECONDS (default 300) per target
# New inputs go to $(BUILD)/fuzz-work, never into the committed corpus. A fuzzer's exit
# status decides, not its last lines (a crash must fail the run).
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10

unit: $(addprefix $(SAN)/tests/,$(TESTS)) all
	@set -e; for t in $(TESTS); do echo "== $$t"; TOP=$(TOP) BUILD=$(BUILD) $(SAN)/tests/$$t; done

define run_fuzzers
	@set -e; for f in $(FUZZERS); do echo "== $$f"; mkdir -p $(BUILD)/fuzz-work/$$f; \
	  if ! $(FZ)/bin/$$f -max_total_time=$(1) -print_final_stats=0 -artifact_prefix=$(BUILD)/fuzz-work/$$f- \
	       $(BUILD)/fuzz-work/$$f \
	       fuzz/corpus/$$f >$(BUILD)/fuzz-work/$$f.log 2>&1; then \
	    tail -n 40 $(BUILD)/fuzz-work/$$f.log; echo "fuzz target $$f failed"; exit 1; fi; \
	  tail -n 1 $(BUILD)/fuzz-work/$$f.log; done
endef

fuzz-smoke: $(addprefix $(FZ)/bin/,$(FUZZERS))
	$(call run_fuzzers,$(FUZZ_SMOKE_SECONDS))
fuzz: $(addprefix $(FZ)/bin/,$(FUZZERS))
	$(call run_fuzzers,$(FUZZ_SECONDS))

# Objects are intermediate files of pattern chains; keep them so parallel builds do not race.
.SECONDARY:

.PHONY: unit fuzz fuzz-smoke
