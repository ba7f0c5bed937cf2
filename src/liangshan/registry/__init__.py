"""Natural-resource rights registry: parcels, ownership, use rights, full history."""
