#!/bin/sh
# Runs the GPU test binary; a machine without the NVIDIA driver cannot even start it (the dynamic
# loader exits 127 for the missing libcuda.so.1): that is a skip (77) saying why, not a failure.
"$@"
rc=$?
if [ "$rc" -eq 127 ]; then
  echo "SKIP: $1 cannot start here (no NVIDIA driver library, libcuda.so.1): run it on a machine with a GPU"
  exit 77
fi
exit "$rc"
