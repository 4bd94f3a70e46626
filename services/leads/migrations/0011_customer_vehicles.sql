-- The vehicle each order was allocated (orders' VehicleAllocated / Delivered: the VIN) and its plate (the delivery
-- checklist's `registration` item carries it as its reference), for the customer page and search by VIN / plate.
ALTER TABLE leads_customer_orders ADD COLUMN vin text, ADD COLUMN plate text;
CREATE INDEX leads_customer_orders_vin ON leads_customer_orders (vin) WHERE vin IS NOT NULL;
CREATE INDEX leads_customer_orders_plate ON leads_customer_orders (plate) WHERE plate IS NOT NULL;
