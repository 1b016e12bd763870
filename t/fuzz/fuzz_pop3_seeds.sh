#!/bin/sh
# fuzz_pop3_seeds.sh: runs the POP3 fuzz entry point over its seed corpus (TAP)
exec "${POSTA_BUILDDIR:-.}/t/fuzz/fuzz_pop3_seeds" "${POSTA_SRCDIR:-.}/t/fuzz/corpus/pop3"
