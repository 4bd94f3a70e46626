-- The vehicle stock as the allocation's candidate list and GET /v1/vehicles read it: one row per vehicle
-- (stream vehicle-<VIN>), upserted from the aggregate in the same transaction as its events. Derived data: the
-- vehicle's stream decides every allocation (a row here only proposes a candidate).
CREATE TABLE vehicle_stock (
    vin text PRIMARY KEY,
    version integer NOT NULL,
    model text NOT NULL,
    trim text,
    colour text,
    logistics_status text NOT NULL,   -- ordered, in_transit, arrived, pdi_done
    status text NOT NULL,             -- as people read it: ... pdi_done, reserved, delivered
    logistics_rank smallint NOT NULL, -- 0 ordered .. 3 pdi_done: the allocation takes the most advanced first
    order_id text,
    factory_order_ref text,
    registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX vehicle_stock_free ON vehicle_stock (model, trim, colour, logistics_rank DESC, registered_at)
    WHERE order_id IS NULL AND status <> 'delivered';
