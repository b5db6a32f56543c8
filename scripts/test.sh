#!/usr/bin/env bash
# The test suite, as CI runs it: unit tests, end-to-end CLI tests on tiny real-format data, and
# the cross-backend agreement tests (flex, ndarray and wgpu train the same losses).
#
# The wgpu test needs a Vulkan driver. Where there is none, this installs Mesa's software one
# (lavapipe, Debian package mesa-vulkan-drivers), so wgpu runs on the CPU. On a machine that
# cannot have one, BNX_SKIP_WGPU=1 skips that single test.
set -euo pipefail
cd "$(dirname "$0")/.."

has_vulkan_driver() {
    compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null || compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null
}
if [ "${BNX_SKIP_WGPU:-0}" != 1 ] && ! has_vulkan_driver; then
    if command -v apt-get >/dev/null; then
        echo "no Vulkan driver: installing Mesa's software driver (mesa-vulkan-drivers) for the wgpu test"
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null ||
            { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null; }
    else
        echo "no Vulkan driver and no apt-get: install one, or set BNX_SKIP_WGPU=1" >&2
    fi
fi

cargo test --release "$@"
