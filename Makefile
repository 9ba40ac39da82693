# moelens build. `make` builds ./moelens and libmoelens.a; `make test` sets up and runs the suite.
CC      ?= gcc
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Isrc -MMD -MP
BLAS_OMP := /usr/lib/x86_64-linux-gnu/openblas-openmp
LDLIBS  := -lcjson -lpng -lz -lm

ifeq ($(NO_OMP),1)
  CFLAGS += -Wno-unknown-pragmas
else
  OMP_OK := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1)
  ifeq ($(OMP_OK),1)
    CFLAGS  += -fopenmp
    LDFLAGS += -fopenmp
  endif
endif
# OpenBLAS built for OpenMP runs single-threaded inside our parallel regions (no oversubscription).
ifneq ($(wildcard $(BLAS_OMP)/libopenblas.so),)
  ifneq ($(NO_OMP),1)
    LDLIBS := -L$(BLAS_OMP) -Wl,-rpath,$(BLAS_OMP) -lopenblas $(LDLIBS)
  else
    LDLIBS := -lopenblas $(LDLIBS)
  endif
else
  LDLIBS := -lopenblas $(LDLIBS)
endif

# MPI: an MPI-capable binary whenever mpicc is found (MPI=0: never). Only src/dist/ sees mpi.h;
# a stamp rebuilds it when MPI changes between builds.
MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
  LDLIBS += $(shell mpicc --showme:link)
endif

BUILD   ?= build
LIB_SRC := $(shell find src -name '*.c' ! -path 'src/cli/*' | sort)
CLI_SRC := $(shell find src/cli -name '*.c' | sort)
TEST_SRC:= $(shell find tests -maxdepth 1 -name '*.c' | sort)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ:= $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all setup test test-only bench sanitize fuzz demo study-vision format clean
# Everything is built under $(BUILD); the default build also places ./moelens and ./libmoelens.a.
all: $(BUILD)/moelens $(BUILD)/libmoelens.a $(BUILD)/moelens_tests
ifeq ($(BUILD),build)
all: moelens libmoelens.a
moelens: $(BUILD)/moelens
	cp $< $@
libmoelens.a: $(BUILD)/libmoelens.a
	cp $< $@
endif

$(BUILD)/libmoelens.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/moelens: $(CLI_OBJ) $(BUILD)/libmoelens.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libmoelens.a $(LDLIBS)

$(BUILD)/moelens_tests: $(TEST_OBJ) $(BUILD)/libmoelens.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libmoelens.a $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/.mpi-$(MPI):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/.mpi-* && touch $@
$(filter $(BUILD)/src/dist/%,$(LIB_OBJ)): $(BUILD)/.mpi-$(MPI)
ifeq ($(MPI),1)
$(BUILD)/src/dist/%.o: CFLAGS += -DMOELENS_MPI $(shell mpicc --showme:compile)
endif

# Installs every Debian package the project needs (idempotent).
setup:
	@sh scripts/setup.sh

# The whole suite on a fresh machine: set-up, build, run. Ends with "N passed, N failed".
test: setup
	@$(MAKE) --no-print-directory all
	@sh scripts/oracle.sh --src-only >/dev/null
	@sh scripts/run_tests.sh

# The suite without the set-up step (for development).
test-only: all
	@sh scripts/run_tests.sh

# Address/UB sanitizer build of the unit tests.
sanitize:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined $(filter -fopenmp,$(LDFLAGS))" build/asan/moelens_tests
	OMP_NUM_THREADS=1 ./build/asan/moelens_tests

# libFuzzer on the GGUF parser (clang); FUZZ_SECONDS long (default 300).
fuzz:
	@sh scripts/fuzz.sh $(or $(FUZZ_SECONDS),300)

# The main job on embedded defaults: set-up, build, then moelens demo (runs/demo/).
demo: setup
	@$(MAKE) --no-print-directory all
	./moelens demo

# The Beyond Routing study: 3 seeds of the study preset, every vision analysis, compare, report
# (studies/beyond_routing.sh; about 1.5 hours on 2 cores).
study-vision: all
	sh studies/beyond_routing.sh

bench: all
	@sh bench/run.sh

format:
	clang-format -i $$(find src tests bench -name '*.[ch]')

clean:
	rm -rf build moelens libmoelens.a

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
