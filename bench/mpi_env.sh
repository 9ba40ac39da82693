# Sourced by the MPI benches (from the repository root, with $DATA set or empty): one thread per
# rank, Open MPI's allow-root variables (for these processes only), a temporary folder $T removed
# at exit, and $DATA defaulting to the fixture corpus built there.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ -z "$DATA" ]; then
    . tests/cli/lib/corpus.sh
    fixture_corpus "$T/text"
    DATA=$T/text
fi
