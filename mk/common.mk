# Shared compiler settings for every component. Included by each component's Makefile.
# BUILD is the out-of-tree build root; components put objects under $(BUILD)/<mode>/<component>.
# Fixed once, here: a recursive `?=` would be expanded later, when MAKEFILE_LIST ends with
# whatever fragment was included last.
ifndef TOP
TOP     := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
endif
BUILD   ?= $(TOP)/build
CC      ?= cc
CLANG   ?= clang
MUSLCC  ?= musl-gcc
WARN     = -Wall -Wextra -Werror
REVM_VERSION ?= 0.1.0
CSTD     = -std=c17 -D_GNU_SOURCE -DREVM_VERSION='"$(REVM_VERSION)"'
CFLAGS_RELEASE = $(CSTD) $(WARN) -O2 -g
# Sanitizer build: every unit and socket-level test runs against these objects.
CFLAGS_SAN     = $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS_SAN    = -fsanitize=address,undefined
# libFuzzer targets are built with clang.
CFLAGS_FUZZ    = $(CSTD) $(WARN) -O1 -g -fsanitize=fuzzer-no-link,address,undefined
LDFLAGS_FUZZ   = -fsanitize=fuzzer,address,undefined
# Static musl binaries that run inside VMs (guest daemon, initramfs init).
CFLAGS_STATIC  = $(CSTD) $(WARN) -Os -static -ffunction-sections -fdata-sections -Wl,--gc-sections -s
