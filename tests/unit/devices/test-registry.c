/*
 * Unit test of devices/registry.c and of every registered type's tables:
 * what config/ is told about a type must agree with what the type is, or
 * `ioreqd -n` would accept configs that create() then refuses.
 */
#include <string.h>

#include "devices/registry.h"
#include "test-util.h"

/* The type's description is one config/ can act on. */
static void
check_cfg(const struct device_type *type)
{
	const struct cfg_type_desc *c = type->cfg;
	unsigned extra = 0;

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK(c->name && strcmp(c->name, type->name) == 0);
	CHECK((c->required & ~c->keys) == 0);
	CHECK((c->placement & ~c->keys) == 0);
	CHECK((c->placement & ~CFG_KEYS_PLACEMENT) == 0);
	/* a port window iff the type takes a port, likewise MMIO */
	CHECK(!(c->keys & CFG_KEY_PORT) == (c->port_size == 0));
	CHECK(!(c->keys & CFG_KEY_MMIO) == (c->mmio_size == 0));
	if (c->default_port) {
		CHECK(c->placement & CFG_KEY_PORT);
		CHECK(c->default_port + c->port_size <= 0x10000);
	}
	if (c->keys & CFG_KEY_IRQ)
		CHECK(c->irq_min <= c->irq_max);
	for (const struct cfg_extra_key *k = c->extra_keys; k && k->name; k++)
		extra++;
	CHECK(extra <= CFG_EXTRA_MAX);
}

int
main(void)
{
	for (size_t i = 0; device_types[i]; i++) {
		const struct device_type *t = device_types[i];

		CHECK(t->name && t->name[0]);
		CHECK(t->create != NULL);
		check_cfg(t);
		CHECK(device_type_find(t->name) == t);
		CHECK(device_type_cfg_find(t->name) == t->cfg);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(device_types[j]->name, t->name) != 0);
	}
	CHECK(device_type_find("uart16550") == &uart16550_isa_type);
	CHECK(device_type_find("pvpanic-pci") == &pvpanic_pci_type);
	CHECK(device_type_find("nope") == NULL);
	CHECK(device_type_find(NULL) == NULL);
	CHECK(device_type_cfg_find("nope") == NULL);
	CHECK(device_type_cfg_find(NULL) == NULL);
	return test_finish();
}
