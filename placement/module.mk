# placement: which disk of which node holds each chunk of a new stripe.
# Pure logic (no I/O, no clock): the master feeds it the disks it knows.
MODULES += placement
placement_SRCS := placement/place.c
placement_TESTS := placement/place_test.c
placement_DEPS := mem log
