"""HTTP API of the orders service (thin: validate input, call a handler, shape the answer).

Errors share the kernel's format: domain rule → 4xx with a machine-readable code, stale ``expected_version``
→ 409 ``version_conflict``, bad input → 422 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from services.orders.api_schemas import checklist_view, order_view, price_list_version_view, quote_view, vehicle_view
from services.orders.app import access
from services.orders.app.catalogue import PublishPriceList, PublishPriceListHandler
from services.orders.app.checkout import CheckOutShopOrder, CheckOutShopOrderHandler
from services.orders.app.common import OrderResult, VehicleNotFoundError, load_order, load_quote
from services.orders.app.fulfilment import (
    CancelOrder,
    CancelOrderHandler,
    CompleteDeliveryChecklistItem,
    CompleteDeliveryChecklistItemHandler,
    DeliverOrder,
    DeliverOrderHandler,
    ReopenDeliveryChecklistItem,
    ReopenDeliveryChecklistItemHandler,
    RescheduleDelivery,
    RescheduleDeliveryHandler,
    ScheduleDelivery,
    ScheduleDeliveryHandler,
)
from services.orders.app.payments import (
    ApproveFinancing,
    ApproveFinancingHandler,
    DeclineFinancing,
    DeclineFinancingHandler,
    RecordPayment,
    RecordPaymentHandler,
    RefundPayment,
    RefundPaymentHandler,
)
from services.orders.app.ports import (
    History,
    OrderQueries,
    OrdersConfig,
    OrdersStore,
    SummaryRebuilder,
)
from services.orders.app.quotes import (
    QUOTE_INTERNAL,
    AcceptQuote,
    AcceptQuoteHandler,
    IssueQuote,
    IssueQuoteHandler,
    ReviseQuote,
    ReviseQuoteHandler,
    SignContract,
    SignContractHandler,
)
from services.orders.app.vehicles import (
    AllocateVehicle,
    AllocateVehicleHandler,
    ChangeVehicleStatus,
    ChangeVehicleStatusHandler,
    RegisterVehicle,
    RegisterVehicleHandler,
    ReleaseVehicle,
    ReleaseVehicleHandler,
    SwapVehicle,
    SwapVehicleHandler,
)
from services.orders.domain.catalogue import PriceList
from services.orders.domain.errors import NoPriceListInForceError
from services.orders.quote_pdf import QuotePrinting, render_quote_pdf
from services.orders.quote_print import print_quote, printed_quote
from shared.auth.http import AUTHENTICATED, CALLER, Caller, allowed
from shared.auth.principal import Principal, Role
from shared.domain import InvalidFieldError
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation as CorrelationId
from shared.runtime.http import IdempotencyKey, idempotent_request
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import REPEATED_CREATE, error_responses

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    IssueQuoteBody = CommandBody[IssueQuote]
    ReviseQuoteBody = CommandBody[ReviseQuote]
    AcceptQuoteBody = CommandBody[AcceptQuote]
    SignContractBody = CommandBody[SignContract]
    RecordPaymentBody = CommandBody[RecordPayment]
    ApproveFinancingBody = CommandBody[ApproveFinancing]
    DeclineFinancingBody = CommandBody[DeclineFinancing]
    RefundPaymentBody = CommandBody[RefundPayment]
    CancelOrderBody = CommandBody[CancelOrder]
    ScheduleDeliveryBody = CommandBody[ScheduleDelivery]
    RescheduleDeliveryBody = CommandBody[RescheduleDelivery]
    DeliverOrderBody = CommandBody[DeliverOrder]
    CompleteChecklistItemBody = CommandBody[CompleteDeliveryChecklistItem]
    ReopenChecklistItemBody = CommandBody[ReopenDeliveryChecklistItem]
    RegisterVehicleBody = CommandBody[RegisterVehicle]
    ChangeVehicleStatusBody = CommandBody[ChangeVehicleStatus]
    AllocateVehicleBody = CommandBody[AllocateVehicle]
    ReleaseVehicleBody = CommandBody[ReleaseVehicle]
    SwapVehicleBody = CommandBody[SwapVehicle]
    CheckOutShopOrderBody = CommandBody[CheckOutShopOrder]
    PublishPriceListBody = CommandBody[PublishPriceList]
else:
    IssueQuoteBody = command_body(IssueQuote, internal=(*QUOTE_INTERNAL, "team_id", "idempotency"))
    ReviseQuoteBody = command_body(ReviseQuote, path=("quote_id",), internal=QUOTE_INTERNAL)
    AcceptQuoteBody = command_body(AcceptQuote, path=("quote_id",))
    SignContractBody = command_body(SignContract, path=("quote_id",))
    RecordPaymentBody = command_body(RecordPayment, path=("order_id",))
    ApproveFinancingBody = command_body(ApproveFinancing, path=("order_id",))
    DeclineFinancingBody = command_body(DeclineFinancing, path=("order_id",))
    RefundPaymentBody = command_body(RefundPayment, path=("order_id",))
    CancelOrderBody = command_body(CancelOrder, path=("order_id",))
    ScheduleDeliveryBody = command_body(ScheduleDelivery, path=("order_id",))
    RescheduleDeliveryBody = command_body(RescheduleDelivery, path=("order_id",))
    DeliverOrderBody = command_body(DeliverOrder, path=("order_id",))
    CompleteChecklistItemBody = command_body(CompleteDeliveryChecklistItem, path=("order_id", "item"))
    ReopenChecklistItemBody = command_body(ReopenDeliveryChecklistItem, path=("order_id", "item"))
    RegisterVehicleBody = command_body(RegisterVehicle)
    ChangeVehicleStatusBody = command_body(ChangeVehicleStatus, path=("vin",))
    AllocateVehicleBody = command_body(AllocateVehicle, path=("order_id",))
    ReleaseVehicleBody = command_body(ReleaseVehicle, path=("order_id",))
    SwapVehicleBody = command_body(SwapVehicle, path=("order_id",))
    CheckOutShopOrderBody = command_body(CheckOutShopOrder)
    PublishPriceListBody = command_body(PublishPriceList, path=("currency",))


@dataclass(frozen=True, slots=True)
class OrdersHandlers:
    issue_quote: IssueQuoteHandler
    revise_quote: ReviseQuoteHandler
    accept_quote: AcceptQuoteHandler
    sign_contract: SignContractHandler
    record_payment: RecordPaymentHandler
    approve_financing: ApproveFinancingHandler
    decline_financing: DeclineFinancingHandler
    refund_payment: RefundPaymentHandler
    cancel_order: CancelOrderHandler
    schedule_delivery: ScheduleDeliveryHandler
    reschedule_delivery: RescheduleDeliveryHandler
    deliver_order: DeliverOrderHandler
    check_out: CheckOutShopOrderHandler
    publish_price_list: PublishPriceListHandler
    register_vehicle: RegisterVehicleHandler
    change_vehicle_status: ChangeVehicleStatusHandler
    allocate_vehicle: AllocateVehicleHandler
    release_vehicle: ReleaseVehicleHandler
    swap_vehicle: SwapVehicleHandler
    complete_checklist_item: CompleteDeliveryChecklistItemHandler
    reopen_checklist_item: ReopenDeliveryChecklistItemHandler


def _order(result: OrderResult) -> dict[str, Any]:
    return order_view(result.order)


# The printed quote as PDF: the one 200 body it answers (FastAPI would otherwise document JSON).
QUOTE_PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the quote's current revision as an A4 PDF in Chinese, its font subset embedded",
          "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
}


def quotes_router(h: OrdersHandlers, store: OrdersStore, history: History, printing: QuotePrinting) -> APIRouter:
    router = APIRouter(prefix="/v1/quotes", tags=["quotes"],
                       dependencies=[*AUTHENTICATED, allowed(roles=access.SELLERS)])

    async def own_quote(quote_id: str, caller: Principal) -> Any:
        quote = await load_quote(store, quote_id)
        access.require_own_quote(caller, quote_id, quote.consultant_id, quote.team_id)
        return quote

    @router.post("", status_code=201, responses=REPEATED_CREATE)
    async def issue_quote(body: IssueQuoteBody, response: Response, x_correlation_id: CorrelationId = None,
                          idempotency_key: IdempotencyKey = None, caller: Principal = CALLER) -> dict[str, Any]:
        """Issue a quote (revision 1). Its expiry timer is scheduled at ``valid_until``. The discount limit is the
        caller's (from the token's role); a discount above it is refused, whatever the body says. With an
        ``Idempotency-Key``, sending the same request again answers 200 with that quote (as it is now) and issues
        none (409 idempotency_key_reused if the request differs)."""
        command = body.to_command(
            role=access.discount_role(caller), team_id=access.selling_team(caller),
            idempotency=idempotent_request(idempotency_key, "orders.issue_quote", caller, body))
        access.require_quote_for(caller, command.consultant_id)
        result = await h.issue_quote(command, _context(x_correlation_id, caller))
        if not result.created:
            response.status_code = 200
        return quote_view(result.quote)

    @router.post("/{quote_id}/revisions")
    async def revise_quote(quote_id: str, body: ReviseQuoteBody, x_correlation_id: CorrelationId = None,
                           caller: Principal = CALLER) -> dict[str, Any]:
        """New terms as the next revision (withdraws a previous acceptance; moves the expiry timer)."""
        await own_quote(quote_id, caller)
        result = await h.revise_quote(body.to_command(quote_id=quote_id, role=access.discount_role(caller)),
                                      _context(x_correlation_id, caller))
        return quote_view(result.quote)

    @router.post("/{quote_id}/acceptance")
    async def accept_quote(quote_id: str, body: AcceptQuoteBody, x_correlation_id: CorrelationId = None,
                           caller: Principal = CALLER) -> dict[str, Any]:
        await own_quote(quote_id, caller)
        result = await h.accept_quote(body.to_command(quote_id=quote_id), _context(x_correlation_id, caller))
        return quote_view(result.quote)

    @router.post("/{quote_id}/contract", status_code=201)
    async def sign_contract(quote_id: str, body: SignContractBody, x_correlation_id: CorrelationId = None,
                            caller: Principal = CALLER) -> dict[str, Any]:
        """Sign the accepted, unexpired quote: creates the order (ContractSigned). Once per quote."""
        await own_quote(quote_id, caller)
        return _order(await h.sign_contract(body.to_command(quote_id=quote_id), _context(x_correlation_id, caller)))

    @router.get("/{quote_id}")
    async def get_quote(quote_id: str, caller: Caller) -> dict[str, Any]:
        """The quote's current revision and its full history (every revision, acceptance, expiry)."""
        quote = await own_quote(quote_id, caller)
        return {**quote_view(quote), "history": await history.history("quote", quote_id)}

    @router.get("/{quote_id}/print", response_class=HTMLResponse)
    async def print_quote_page(quote_id: str, caller: Caller) -> HTMLResponse:
        """The quote's current revision as a printable page in Chinese (报价单), for the same callers as the quote."""
        return HTMLResponse(print_quote(printed_quote(await own_quote(quote_id, caller), printing.letterhead)))

    @router.get("/{quote_id}/print.pdf", response_class=Response, responses=QUOTE_PDF_RESPONSES)
    async def print_quote_pdf(quote_id: str, caller: Caller) -> Response:
        """The same printed quote as a PDF (A4, 报价单 with signature boxes), for the same callers as the quote."""
        view = printed_quote(await own_quote(quote_id, caller), printing.letterhead)
        # Laying out and subsetting the font is a second of CPU: off the event loop, so other requests go on.
        pdf = await run_in_threadpool(render_quote_pdf, view, printing.font)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="quote-{quote_id}.pdf"'})

    return router


def orders_router(h: OrdersHandlers, store: OrdersStore, history: History, queries: OrderQueries,
                  config: OrdersConfig) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["orders"], dependencies=AUTHENTICATED)
    sellers = [allowed(roles=access.SELLERS)]

    async def own_order(order_id: str, caller: Principal) -> Any:
        order = await load_order(store, order_id)
        signed = order.signed
        access.require_own_order(caller, order_id, signed.consultant_id if signed else None,
                                 signed.team_id if signed else None)
        return order

    @router.post("/orders/{order_id}/payments", dependencies=sellers)
    async def record_payment(order_id: str, body: RecordPaymentBody, x_correlation_id: CorrelationId = None,
                             caller: Principal = CALLER) -> dict[str, Any]:
        await own_order(order_id, caller)
        return _order(await h.record_payment(body.to_command(order_id=order_id), _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/financing/approval", dependencies=sellers)
    async def approve_financing(order_id: str, body: ApproveFinancingBody, x_correlation_id: CorrelationId = None,
                                caller: Principal = CALLER) -> dict[str, Any]:
        await own_order(order_id, caller)
        return _order(await h.approve_financing(body.to_command(order_id=order_id),
                                                _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/financing/decline", dependencies=sellers)
    async def decline_financing(order_id: str, body: DeclineFinancingBody, x_correlation_id: CorrelationId = None,
                                caller: Principal = CALLER) -> dict[str, Any]:
        await own_order(order_id, caller)
        return _order(await h.decline_financing(body.to_command(order_id=order_id),
                                                _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/refunds", dependencies=[allowed(roles=access.SUPERVISORS)])
    async def refund_payment(order_id: str, body: RefundPaymentBody, x_correlation_id: CorrelationId = None,
                             caller: Principal = CALLER) -> dict[str, Any]:
        await own_order(order_id, caller)
        return _order(await h.refund_payment(body.to_command(order_id=order_id), _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/cancellation", dependencies=[allowed(roles=access.SUPERVISORS)])
    async def cancel_order(order_id: str, body: CancelOrderBody, x_correlation_id: CorrelationId = None,
                           caller: Principal = CALLER) -> dict[str, Any]:
        """Cancel before delivery; ``refund_due_minor`` says what the customer gets back."""
        await own_order(order_id, caller)
        return _order(await h.cancel_order(body.to_command(order_id=order_id), _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/delivery", dependencies=sellers)
    async def schedule_delivery(order_id: str, body: ScheduleDeliveryBody, x_correlation_id: CorrelationId = None,
                                caller: Principal = CALLER) -> dict[str, Any]:
        await own_order(order_id, caller)
        return _order(await h.schedule_delivery(body.to_command(order_id=order_id),
                                                _context(x_correlation_id, caller)))

    @router.put("/orders/{order_id}/delivery", dependencies=sellers)
    async def reschedule_delivery(order_id: str, body: RescheduleDeliveryBody, x_correlation_id: CorrelationId = None,
                                  caller: Principal = CALLER) -> dict[str, Any]:
        await own_order(order_id, caller)
        return _order(await h.reschedule_delivery(body.to_command(order_id=order_id),
                                                  _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/vehicle", dependencies=sellers)
    async def allocate_vehicle(order_id: str, body: AllocateVehicleBody, x_correlation_id: CorrelationId = None,
                               caller: Principal = CALLER) -> dict[str, Any]:
        """Allocate a vehicle (VIN) matching the order's catalogue model / trim / colour: the named ``vin``, or
        the best free match (PDI done, arrived, in transit, then a factory order). A vehicle is never allocated
        to two orders: 409 ``vehicle_already_allocated`` / ``no_vehicle_available``."""
        await own_order(order_id, caller)
        return _order(await h.allocate_vehicle(body.to_command(order_id=order_id),
                                               _context(x_correlation_id, caller)))

    @router.post("/orders/{order_id}/vehicle/release", dependencies=sellers)
    async def release_vehicle(order_id: str, body: ReleaseVehicleBody, x_correlation_id: CorrelationId = None,
                              caller: Principal = CALLER) -> dict[str, Any]:
        """Give the allocated vehicle back to free stock without cancelling the order (``VehicleDeallocated``
        reason ``released``, with ``reason`` as its note); allocate another later. 409 ``no_vehicle_allocated``,
        ``order_delivered``, ``order_cancelled``; 422 naming ``reason`` when it is empty."""
        await own_order(order_id, caller)
        return _order(await h.release_vehicle(body.to_command(order_id=order_id),
                                              _context(x_correlation_id, caller)))

    @router.put("/orders/{order_id}/vehicle", dependencies=sellers)
    async def swap_vehicle(order_id: str, body: SwapVehicleBody, x_correlation_id: CorrelationId = None,
                           caller: Principal = CALLER) -> dict[str, Any]:
        """Swap the allocated vehicle for the free one named by ``vin`` (matching the order like an allocation),
        in one transaction: ``VehicleDeallocated`` reason ``swapped`` then ``VehicleAllocated``. The same ``vin``
        again records nothing. 409 ``vehicle_already_allocated``, ``vehicle_does_not_match``,
        ``no_vehicle_allocated``, ``order_delivered``; 404 ``vehicle_not_found``."""
        await own_order(order_id, caller)
        return _order(await h.swap_vehicle(body.to_command(order_id=order_id), _context(x_correlation_id, caller)))

    @router.get("/orders/{order_id}/delivery-checklist", dependencies=sellers)
    async def delivery_checklist(order_id: str, caller: Caller) -> dict[str, Any]:
        """The order's department checklist: each item, whether it is done, by whom, when, with what reference."""
        order = await own_order(order_id, caller)
        return checklist_view(order, config.delivery_checklist(order.team_id))

    @router.post("/orders/{order_id}/delivery-checklist/{item}", dependencies=sellers)
    async def complete_checklist_item(order_id: str, item: str, body: CompleteChecklistItemBody,
                                      x_correlation_id: CorrelationId = None, caller: Principal = CALLER
                                      ) -> dict[str, Any]:
        """Complete one checklist item (DeliveryChecklistItemCompleted: the caller, now, ``reference``); an item
        not on the department's list is 422 naming ``item``, a completed one 409."""
        await own_order(order_id, caller)
        result = await h.complete_checklist_item(body.to_command(order_id=order_id, item=item),
                                                 _context(x_correlation_id, caller))
        return checklist_view(result.order, config.delivery_checklist(result.order.team_id))

    @router.post("/orders/{order_id}/delivery-checklist/{item}/reopen", dependencies=sellers)
    async def reopen_checklist_item(order_id: str, item: str, body: ReopenChecklistItemBody,
                                    x_correlation_id: CorrelationId = None, caller: Principal = CALLER
                                    ) -> dict[str, Any]:
        """Undo a completed item (DeliveryChecklistItemReopened: the caller, now, ``reason``): it is open again and
        gates delivery until completed anew. 409 ``checklist_item_not_completed``, ``order_delivered``; 422 naming
        ``reason`` (empty) or ``item`` (not on the department's list)."""
        await own_order(order_id, caller)
        result = await h.reopen_checklist_item(body.to_command(order_id=order_id, item=item),
                                               _context(x_correlation_id, caller))
        return checklist_view(result.order, config.delivery_checklist(result.order.team_id))

    @router.post("/orders/{order_id}/delivered", dependencies=sellers)
    async def deliver_order(order_id: str, body: DeliverOrderBody, x_correlation_id: CorrelationId = None,
                            caller: Principal = CALLER) -> dict[str, Any]:
        """Hand over: only when fully paid or the rest is covered by approved financing; an order selling a
        catalogue vehicle also needs its department's checklist complete and its vehicle PDI done (409
        ``delivery_not_ready`` naming the open items)."""
        await own_order(order_id, caller)
        return _order(await h.deliver_order(body.to_command(order_id=order_id), _context(x_correlation_id, caller)))

    @router.post("/checkouts", status_code=201,
                 dependencies=[allowed(roles=access.SUPERVISORS, scopes=[access.CHECKOUT_SCOPE])])
    async def check_out(body: CheckOutShopOrderBody, response: Response, x_correlation_id: CorrelationId = None,
                        caller: Principal = CALLER) -> dict[str, Any]:
        """An online-shop order, signed and paid in one step. Idempotent on ``shop_order_id``: an identical repeat
        answers 200 with the first order and stores nothing; a repeat with different content answers 409
        ``checkout_conflict`` naming the first order and both versions (``recorded``, ``received``)."""
        result = await h.check_out(body.to_command(), _context(x_correlation_id, caller))
        if not result.created:
            response.status_code = 200
        return _order(result)

    @router.get("/orders/awaiting-delivery", dependencies=[allowed(roles=access.SUPERVISORS)])
    async def awaiting_delivery(caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200
                                ) -> dict[str, Any]:
        """Signed orders not yet delivered or cancelled, by delivery date; ``ready`` = nothing owed (a manager:
        their team's and the shop's)."""
        return {"orders": await queries.awaiting_delivery(limit, access.team_scope(caller))}

    @router.get("/orders", dependencies=sellers)
    async def open_orders(caller: Caller, consultant_id: Annotated[str, Query(min_length=1)],
                          limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        """A consultant's open orders (signed, neither delivered nor cancelled); a consultant sees their own."""
        team = access.own_listing(caller, consultant_id)
        return {"consultant_id": consultant_id, "orders": await queries.open_orders(consultant_id, limit, team)}

    @router.get("/orders/{order_id}", dependencies=sellers)
    async def get_order(order_id: str, caller: Caller) -> dict[str, Any]:
        """The order's current state and its full history (who did what when)."""
        order = await own_order(order_id, caller)
        return {**order_view(order), "history": await history.history("order", order_id)}

    @router.get("/receivables", dependencies=[allowed(roles=access.SUPERVISORS)])
    async def receivables(caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        """What customers still owe on open orders (and refunds still due on cancelled ones), per currency (a
        manager: their team's and the shop's)."""
        return await queries.receivables(limit, access.team_scope(caller))

    return router


def catalogue_router(h: OrdersHandlers, store: OrdersStore) -> APIRouter:
    """The price list: directors publish versions; everyone who sells reads the catalogue in force."""
    router = APIRouter(prefix="/v1", tags=["catalogue"], dependencies=AUTHENTICATED)

    async def price_list_of(currency: str) -> PriceList:
        price_list = await store.price_list(currency)
        if price_list is None:
            raise NoPriceListInForceError(f"no {currency} price list was ever published", currency=currency)
        return price_list

    @router.post("/price-lists/{currency}/versions", status_code=201,
                 dependencies=[allowed(roles=access.CATALOGUE_EDITORS)])
    async def publish_price_list(currency: str, body: PublishPriceListBody, x_correlation_id: CorrelationId = None,
                                 caller: Principal = CALLER) -> dict[str, Any]:
        """Publish a version of the catalogue with its list prices, in force from ``valid_from`` (until
        ``valid_until``, exclusive, or until a later version starts). Versions are never edited: a correction is a
        new version with the same ``valid_from`` (the later publication wins)."""
        result = await h.publish_price_list(body.to_command(currency=currency), _context(x_correlation_id, caller))
        return price_list_version_view(result.version)

    # 409 no_price_list_in_force: nothing published for the currency (or nothing in force on the day).
    @router.get("/price-lists/{currency}", dependencies=[allowed(roles=access.SELLERS)],
                responses=error_responses(409))
    async def get_price_list(currency: str) -> dict[str, Any]:
        """Every published version of the currency's price list, oldest first."""
        price_list = await price_list_of(currency)
        return {"currency": currency, "versions": [price_list_version_view(v) for v in price_list.versions]}

    @router.get("/catalogue", dependencies=[allowed(roles=access.SELLERS)], responses=error_responses(409))
    async def catalogue(caller: Caller, currency: Annotated[str, Query(min_length=3, max_length=3)] = "CNY",
                        on: Annotated[datetime | None, Query(description="default: now")] = None
                        ) -> dict[str, Any]:
        """The catalogue with the list prices in force on ``on`` — what a quote issued then is priced at."""
        moment = on or datetime.now(UTC)
        if moment.tzinfo is None:
            raise InvalidFieldError("on", "needs a time zone offset")
        return price_list_version_view((await price_list_of(currency)).require_in_force_on(moment))

    return router


def vehicles_router(h: OrdersHandlers, store: OrdersStore, history: History, queries: OrderQueries) -> APIRouter:
    """The vehicle stock: managers and directors record what the factory and logistics report; sellers read it."""
    router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], dependencies=AUTHENTICATED)
    supervisors = [allowed(roles=access.SUPERVISORS)]

    @router.post("", status_code=201, dependencies=supervisors)
    async def register_vehicle(body: RegisterVehicleBody, x_correlation_id: CorrelationId = None,
                               caller: Principal = CALLER) -> dict[str, Any]:
        """A vehicle enters the stock (a factory order, on its way, arrived or PDI done); 409 for a known VIN,
        422 naming ``vin`` for a malformed one."""
        result = await h.register_vehicle(body.to_command(), _context(x_correlation_id, caller))
        return vehicle_view(result.vehicle)

    @router.post("/{vin}/status", dependencies=supervisors)
    async def change_vehicle_status(vin: str, body: ChangeVehicleStatusBody, x_correlation_id: CorrelationId = None,
                                    caller: Principal = CALLER) -> dict[str, Any]:
        """Move the vehicle forward (in_transit, arrived, pdi_done); the same status again records nothing."""
        result = await h.change_vehicle_status(body.to_command(vin=vin), _context(x_correlation_id, caller))
        return vehicle_view(result.vehicle)

    @router.get("", dependencies=[allowed(roles=access.SELLERS)])
    async def list_vehicles(status: Annotated[str | None, Query(max_length=20)] = None,
                            model: Annotated[str | None, Query(max_length=60)] = None,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        """The stock, the most advanced first (``status``: ordered, in_transit, arrived, pdi_done, reserved,
        delivered)."""
        return {"vehicles": await queries.vehicles(status, model, limit)}

    @router.get("/{vin}", dependencies=[allowed(roles=access.SELLERS)])
    async def get_vehicle(vin: str) -> dict[str, Any]:
        """The vehicle and its history."""
        vehicle = await store.vehicle(vin.strip().upper())
        if vehicle is None:
            raise VehicleNotFoundError(f"no vehicle {vin} in stock")
        return {**vehicle_view(vehicle), "history": await history.history("vehicle", vehicle.id)}

    return router


def config_router(config: OrdersConfig) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["configuration"], dependencies=AUTHENTICATED)

    @router.get("/configuration")
    async def configuration() -> dict[str, Any]:
        return {"discount_limits_bp": config.discount_limits_bp, "currencies": sorted(config.currencies),
                "refund_percent_of_paid": config.refund_percent_of_paid}

    return router


def admin_router(rebuilder: SummaryRebuilder) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[*AUTHENTICATED, allowed(roles=[Role.OPS])])

    @router.post("/order-summaries/rebuild")
    async def rebuild_order_summaries() -> dict[str, Any]:
        """Recompute the list queries' table from the event store (after a bug fix or a schema change)."""
        return {"rebuilt": await rebuilder.rebuild_summaries()}

    return router
