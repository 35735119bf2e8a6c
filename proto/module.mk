# proto: the client/admin API (wormfs.proto) and its protobuf-c code.
#
# protoc-c writes the generated code into the build folder, never the source
# tree: $(B)/proto/wormfs.pb-c.c and .h.  The header is included as
# "proto/wormfs.pb-c.h", which -I$(B) below resolves.
#
# proto_SRCS names the generated source by the path it would have in the
# source tree, "proto/wormfs.pb-c.c", so the top-level objs function maps it
# to $(B)/proto/wormfs.pb-c.o like any other source; the rule below builds
# that object from $(B)/proto/wormfs.pb-c.c (it wins over the generic
# $(B)/%.o: %.c rule, whose source does not exist).  A module using the
# messages lists proto in its _DEPS (or _USES); GEN_HDRS makes every object
# wait for the generated headers.
MODULES += proto
proto_PROTOS := proto/wormfs.proto
proto_SRCS := $(proto_PROTOS:.proto=.pb-c.c)
proto_GEN_C := $(addprefix $(B)/,$(proto_SRCS))
proto_GEN_H := $(proto_GEN_C:.c=.h)
GEN_HDRS += $(proto_GEN_H)

CFLAGS += -I$(B)

# One protoc-c run writes both files (a pattern rule with two targets).
$(B)/proto/%.pb-c.c $(B)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	$(if $(Q),@echo "  PROTOC	$<";)protoc-c --proto_path=. --c_out=$(B) $<

$(B)/proto/%.pb-c.o: $(B)/proto/%.pb-c.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# Generated files are real outputs, not intermediates for make to delete.
.SECONDARY: $(proto_GEN_C) $(proto_GEN_H)
