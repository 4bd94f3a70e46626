-- What the shop asked for when it checked an order out (ShopCheckout.terms, JSON): a repeat of the same shop
-- order id with different content is refused (409 checkout_conflict) instead of answered with the first order.
-- Rows recorded before this migration keep NULL and cannot be compared; their repeats answer with the order.
ALTER TABLE shop_checkouts ADD COLUMN terms jsonb;
