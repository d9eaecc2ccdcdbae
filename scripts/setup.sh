#!/usr/bin/env bash
# Installs the Debian packages mllm-cl builds against. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  libopenblas-dev        # cblas_sgemm (OpenBLAS, pthread build)
  libsentencepiece-dev   # tokenizer (libsentencepiece)
  sentencepiece          # spm_train, to train the project's own tokenizers
  libpng-dev             # PNG decoding
  libturbojpeg0-dev      # JPEG decoding (TurboJPEG)
  libopenmpi-dev         # data-parallel training (Open MPI; the MPI trait, on by default)
  openmpi-bin            # mpirun
  pkg-config
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present (${packages[*]})"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
