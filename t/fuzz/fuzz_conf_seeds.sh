#!/bin/sh
# fuzz_conf_seeds.sh: runs the config fuzz entry point over its seed corpus (TAP)
exec "${POSTA_BUILDDIR:-.}/t/fuzz/fuzz_conf_seeds" "${POSTA_SRCDIR:-.}/t/fuzz/corpus/conf"
