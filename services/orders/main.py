"""Composition root of the orders service: settings → database → relay + timer runner + the consumer of the
shop's inbound topic → HTTP.
``python -m services.orders``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic_settings import SettingsConfigDict

from services.orders.adapters.publishing import to_public_message
from services.orders.adapters.queries import PostgresOrderQueries
from services.orders.adapters.repository import EventSourcedOrders, postgres_orders_units_of_work
from services.orders.adapters.timers import quote_expiry_handler
from services.orders.api import (
    OrdersHandlers,
    admin_router,
    catalogue_router,
    config_router,
    orders_router,
    quotes_router,
    vehicles_router,
)
from services.orders.app.catalogue import PublishPriceListHandler
from services.orders.app.checkout import CheckOutShopOrderHandler
from services.orders.app.config import load_config
from services.orders.app.fulfilment import (
    CancelOrderHandler,
    CompleteDeliveryChecklistItemHandler,
    DeliverOrderHandler,
    ReopenDeliveryChecklistItemHandler,
    RescheduleDeliveryHandler,
    ScheduleDeliveryHandler,
)
from services.orders.app.intake import ShopCheckoutIntake
from services.orders.app.payments import (
    ApproveFinancingHandler,
    DeclineFinancingHandler,
    RecordPaymentHandler,
    RefundPaymentHandler,
)
from services.orders.app.ports import QUOTE_EXPIRY_TIMER, Clock, IdFactory, OrdersConfig, UnitOfWorkFactory
from services.orders.app.quotes import (
    AcceptQuoteHandler,
    IssueQuoteHandler,
    ReviseQuoteHandler,
    SignContractHandler,
)
from services.orders.app.vehicles import (
    AllocateVehicleHandler,
    ChangeVehicleStatusHandler,
    RegisterVehicleHandler,
    ReleaseVehicleHandler,
    SwapVehicleHandler,
)
from services.orders.quote_pdf import QuotePrinting, load_quote_font
from services.orders.quote_print import load_letterhead
from shared.contracts.inbound import INBOUND_SHOP
from shared.eventstore.store import PostgresEventStore
from shared.messaging.consumer import IdempotentConsumer
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import OutboxRelay, make_producer
from shared.messaging.subscriber import subscribe_idempotent
from shared.messaging.topics import dead_letter_topic, ensure_topics
from shared.runtime.bootstrap import prepare_database, run_service
from shared.runtime.clock import new_id, system_clock
from shared.runtime.components import ServiceComponents
from shared.runtime.http import dead_letter_router
from shared.runtime.service_app import service_app
from shared.settings import KafkaSettings, ServiceSettings
from shared.timers import TimerRunner

SERVICE = "orders"
MIGRATIONS = Path(__file__).parent / "migrations"
INBOUND_TOPICS = (INBOUND_SHOP,)
"""Inbound integration topics (under the prefix) whose messages orders turns into commands (app/intake.py)."""


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", frozen=True)

    service_name: str = SERVICE
    http_port: int = 8002
    relay_poll_interval: float = 1.0
    timer_poll_interval: float = 1.0
    consumer_group: str = "orders"  # the Kafka group id only: processed ids and dead letters are kept under SERVICE
    refund_percent_of_paid: int | None = None  # overrides config/orders.json when set
    # The printed quote's PDF font (GET /v1/quotes/{id}/print.pdf): Debian's fonts-noto-cjk by default; a .ttc
    # collection is searched for quote_pdf_font_face. Checked at start-up: a missing file stops the service with
    # an error naming the setting.
    quote_pdf_font: Path = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    quote_pdf_font_bold: Path = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
    quote_pdf_font_face: str = "Noto Sans CJK SC"




def build_handlers(unit_of_work: UnitOfWorkFactory, config: OrdersConfig, clock: Clock, ids: IdFactory
                   ) -> OrdersHandlers:
    return OrdersHandlers(
        issue_quote=IssueQuoteHandler(unit_of_work=unit_of_work, clock=clock, new_id=ids, config=config),
        revise_quote=ReviseQuoteHandler(unit_of_work=unit_of_work, clock=clock, config=config),
        accept_quote=AcceptQuoteHandler(unit_of_work=unit_of_work, clock=clock),
        sign_contract=SignContractHandler(unit_of_work=unit_of_work, clock=clock, new_id=ids),
        record_payment=RecordPaymentHandler(unit_of_work=unit_of_work, clock=clock, new_id=ids),
        approve_financing=ApproveFinancingHandler(unit_of_work=unit_of_work, clock=clock),
        decline_financing=DeclineFinancingHandler(unit_of_work=unit_of_work, clock=clock),
        refund_payment=RefundPaymentHandler(unit_of_work=unit_of_work, clock=clock, new_id=ids),
        cancel_order=CancelOrderHandler(unit_of_work=unit_of_work, clock=clock, config=config),
        schedule_delivery=ScheduleDeliveryHandler(unit_of_work=unit_of_work, clock=clock),
        reschedule_delivery=RescheduleDeliveryHandler(unit_of_work=unit_of_work, clock=clock),
        deliver_order=DeliverOrderHandler(unit_of_work=unit_of_work, clock=clock, config=config),
        check_out=CheckOutShopOrderHandler(unit_of_work=unit_of_work, clock=clock, new_id=ids, config=config),
        publish_price_list=PublishPriceListHandler(unit_of_work=unit_of_work, clock=clock, new_id=ids,
                                                   config=config),
        register_vehicle=RegisterVehicleHandler(unit_of_work=unit_of_work, clock=clock),
        change_vehicle_status=ChangeVehicleStatusHandler(unit_of_work=unit_of_work, clock=clock),
        allocate_vehicle=AllocateVehicleHandler(unit_of_work=unit_of_work, clock=clock),
        release_vehicle=ReleaseVehicleHandler(unit_of_work=unit_of_work, clock=clock),
        swap_vehicle=SwapVehicleHandler(unit_of_work=unit_of_work, clock=clock),
        complete_checklist_item=CompleteDeliveryChecklistItemHandler(unit_of_work=unit_of_work, clock=clock,
                                                                     config=config),
        reopen_checklist_item=ReopenDeliveryChecklistItemHandler(unit_of_work=unit_of_work, clock=clock,
                                                                 config=config),
    )


def create_app(settings: OrdersSettings, kafka: KafkaSettings, *, clock: Clock = system_clock()) -> FastAPI:
    config = load_config(refund_percent_override=settings.refund_percent_of_paid)
    printing = QuotePrinting(load_letterhead(), load_quote_font(
        settings.quote_pdf_font, settings.quote_pdf_font_bold, face=settings.quote_pdf_font_face,
        settings=("ORDERS_QUOTE_PDF_FONT", "ORDERS_QUOTE_PDF_FONT_BOLD")))
    parts = ServiceComponents()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topic = kafka.topic(SERVICE)
        inbound = [kafka.topic(t) for t in INBOUND_TOPICS]
        pool = await prepare_database(settings.database_url, service=SERVICE, migrations=MIGRATIONS,
                                      min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await ensure_topics(kafka.connection, [topic, *inbound, *map(dead_letter_topic, inbound)])
        producer = make_producer(kafka.connection, client_id=f"{SERVICE}-relay")
        await producer.start()
        store = PostgresEventStore(pool)
        orders = EventSourcedOrders(store, pool)
        units_of_work = postgres_orders_units_of_work(pool, store)
        relay = OutboxRelay(dsn=settings.database_url, producer=producer, topic=topic,
                            translate=to_public_message, name=SERVICE, poll_interval=settings.relay_poll_interval)
        timers = TimerRunner(pool=pool, handlers={QUOTE_EXPIRY_TIMER: quote_expiry_handler(units_of_work, clock)},
                             clock=clock, poll_interval=settings.timer_poll_interval)
        handlers = build_handlers(units_of_work, config, clock, new_id)
        dead_letters = DeadLetters(consumer=SERVICE, producer=producer)
        consumer = IdempotentConsumer(name=SERVICE, pool=pool, dead_letters=dead_letters,
                                      handlers=ShopCheckoutIntake(check_out=handlers.check_out).handlers())
        broker = KafkaBroker(kafka.kafka_bootstrap_servers, client_id=SERVICE, logger=None,
                             security=kafka.connection.faststream_security())
        subscribe_idempotent(broker, consumer, inbound, group_id=settings.consumer_group)
        await parts.start_consumer(broker, consumer, kafka=kafka.connection, topics=inbound)
        parts.pool, parts.producer = pool, producer
        parts.watch_pool()
        parts.run_relay(relay)
        parts.run_timers(timers)
        app.include_router(quotes_router(handlers, orders, orders, printing))
        queries = PostgresOrderQueries(pool)
        app.include_router(orders_router(handlers, orders, orders, queries, config))
        app.include_router(vehicles_router(handlers, orders, orders, queries))
        app.include_router(catalogue_router(handlers, orders))
        app.include_router(config_router(config))
        app.include_router(admin_router(orders))
        app.include_router(dead_letter_router(consumer, dead_letters, pool))
        try:
            yield
        finally:
            await parts.close()

    return service_app(SERVICE, settings=settings, parts=parts, lifespan=lifespan)


def main() -> None:
    run_service(SERVICE, OrdersSettings, create_app)
