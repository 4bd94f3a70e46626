"""Vehicle stock commands: register a vehicle (a factory order, one on its way, one arrived), move it through
logistics, allocate one to an order, release it from the order or swap it for another."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.orders.app.common import OrderResult, OrdersHandler, no_order, no_vehicle
from services.orders.app.ports import CommandContext, OrdersUnitOfWork
from services.orders.domain.errors import NotAVehicleOrderError, NoVehicleAvailableError, VehicleAlreadyRegisteredError
from services.orders.domain.order import Order
from services.orders.domain.vehicle import Vehicle
from services.orders.domain.vin import normalise_vin
from shared.commands import ExpectedVersion

CatalogueId = Annotated[str, Field(min_length=1, max_length=60)]
VinField = Annotated[str, Field(min_length=1, max_length=40, description="17 characters, no I/O/Q; check digit "
                                                                          "for Chinese and North American VINs",
                                 examples=["LRW3E7FA8NC000001"])]
# A free vehicle taken by a concurrent allocation is skipped; a handful of candidates is plenty.
CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class RegisterVehicle:
    vin: VinField
    model: Annotated[CatalogueId, Field(description="the model's catalogue id", examples=["MY"])]
    trim: Annotated[str | None, Field(max_length=60, description="the trim's catalogue id", examples=["MY-LR"])] = None
    colour: Annotated[str | None, Field(max_length=60, description="the colour's catalogue id",
                                        examples=["COL-WHITE"])] = None
    status: Annotated[str, Field(description="ordered, in_transit, arrived or pdi_done")] = "ordered"
    factory_order_ref: Annotated[str | None, Field(max_length=100, description="the factory order number")] = None


@dataclass(frozen=True, slots=True)
class ChangeVehicleStatus:
    vin: str
    status: Annotated[str, Field(description="in_transit, arrived or pdi_done (forward only)")]
    reference: Annotated[str | None, Field(max_length=200, description="shipment, arrival note, PDI report")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class AllocateVehicle:
    order_id: str
    vin: Annotated[str | None, Field(max_length=40, description="a particular vehicle; default: the best free "
                                                                "match in stock, else an incoming one")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ReleaseVehicle:
    order_id: str
    reason: Annotated[str, Field(max_length=500, description="why the order gives its vehicle back",
                                 examples=["PDI found paint damage; the customer waits for the next one"])]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class SwapVehicle:
    order_id: str
    vin: Annotated[VinField, Field(description="the free vehicle the order takes instead of its current one")]
    reason: Annotated[str, Field(max_length=500, description="why the vehicle is swapped",
                                 examples=["the customer prefers the one that arrived first"])]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class VehicleResult:
    vehicle: Vehicle
    changed: bool = True


class RegisterVehicleHandler(OrdersHandler):
    async def __call__(self, command: RegisterVehicle, context: CommandContext) -> VehicleResult:
        vin = normalise_vin(command.vin)

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> VehicleResult:
            if await uow.load(Vehicle, vin) is not None:
                raise VehicleAlreadyRegisteredError(f"vehicle {vin} is already in stock", vin=vin)
            vehicle = Vehicle.register(vin=vin, model=command.model, trim=command.trim, colour=command.colour,
                                       status=command.status, factory_order_ref=command.factory_order_ref,
                                       registered_by=context.actor, now=now)
            uow.add(vehicle)
            return VehicleResult(vehicle)
        # A new stream (expected version 0): two concurrent registrations of one VIN make one vehicle.
        return await self._commands.run(decide, context, expected_version=0)


class ChangeVehicleStatusHandler(OrdersHandler):
    async def __call__(self, command: ChangeVehicleStatus, context: CommandContext) -> VehicleResult:
        vin = normalise_vin(command.vin)

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> VehicleResult:
            vehicle = await uow.get(Vehicle, vin, missing=no_vehicle(vin), expected_version=command.expected_version)
            changed = vehicle.move(status=command.status, reference=command.reference, changed_by=context.actor,
                                   now=now)
            return VehicleResult(vehicle, changed)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class AllocateVehicleHandler(OrdersHandler):
    async def __call__(self, command: AllocateVehicle, context: CommandContext) -> OrderResult:
        named = normalise_vin(command.vin) if command.vin else None

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            vehicle = await (uow.get(Vehicle, named, missing=no_vehicle(named)) if named
                             else self._best_free_vehicle(uow, order))
            # Order (VehicleAllocated) and vehicle (VehicleReserved) in one append, each expecting the version it
            # was loaded at: of two allocations of the same vehicle only one commits; the other is decided again
            # and finds it taken (named: 409 vehicle_already_allocated; chosen: the next match, or 409
            # no_vehicle_available).
            order.allocate_vehicle(vehicle, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    @staticmethod
    async def _best_free_vehicle(uow: OrdersUnitOfWork, order: Order) -> Vehicle:
        spec = order.vehicle_spec
        if spec is None:
            raise NotAVehicleOrderError("the order has no model or trim line from the catalogue")
        for vin in await uow.free_vehicles(spec, CANDIDATES):
            vehicle = await uow.get(Vehicle, vin, missing=no_vehicle(vin))
            if vehicle.order_id is None and not vehicle.delivered:
                return vehicle
        raise NoVehicleAvailableError(f"no free vehicle in stock or incoming is {spec.describe()}",
                                      needed={"model": spec.model, "trim": spec.trim, "colour": spec.colour})




class ReleaseVehicleHandler(OrdersHandler):
    async def __call__(self, command: ReleaseVehicle, context: CommandContext) -> OrderResult:
        # The order (VehicleDeallocated) and its vehicle (VehicleReleased) commit together; racing a delivery,
        # one of the two appends to the order stream loses and is decided again against the winner.
        def change(order: Order, vehicle: Vehicle | None, now: datetime) -> None:
            order.release_vehicle(vehicle, note=command.reason, released_by=context.actor, now=now)
        return await self._change_order_and_vehicle(command.order_id, command.expected_version, context, change)


class SwapVehicleHandler(OrdersHandler):
    async def __call__(self, command: SwapVehicle, context: CommandContext) -> OrderResult:
        named = normalise_vin(command.vin)

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            current = await uow.get(Vehicle, order.vin, missing=no_vehicle(order.vin)) if order.vin else None
            # The same VIN again is one aggregate (a repeated request), not a second copy of its stream.
            replacement = current if current is not None and current.id == named else \
                await uow.get(Vehicle, named, missing=no_vehicle(named))
            # Three streams in one append, each expecting the version it was loaded at: a concurrent allocation of
            # the replacement, or anything on the order, makes this attempt conflict and be decided again.
            order.swap_vehicle(current, replacement, note=command.reason, swapped_by=context.actor, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)
