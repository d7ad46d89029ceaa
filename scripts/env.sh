# Shared by the project scripts: keep the cargo build cache outside the clone so repeated runs
# (and CI on the same machine) are warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xmargin-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
