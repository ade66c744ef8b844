# engine/: Unicode category tables for the tokenizer, generated from Debian's unicode-data
# package by tools/gen_unicode.py (deps.txt: deb unicode-data).
UNICODE_DATA ?= /usr/share/unicode/UnicodeData.txt
EXTRA_SRCS += build/gen/unicode_data.c
build/gen/unicode_data.c: tools/gen_unicode.py $(UNICODE_DATA)
	@mkdir -p $(dir $@)
	python3 tools/gen_unicode.py $(UNICODE_DATA) $@
