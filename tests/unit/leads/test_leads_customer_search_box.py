"""Reading the customer search box: a phone number in any format is the number, 4–10 digits are its last digits,
anything else a name; an empty box or stray digits are a 422 on ``q``; and who may search which customers."""

from __future__ import annotations

import pytest

from services.leads.app.customer_search import CustomerSearchScope, SearchTerms, customer_search_scope, search_terms
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal
from shared.domain import InvalidFieldError


@pytest.mark.parametrize("typed", ["138 1234 5678", "+86-138-1234-5678", "0086 13812345678", "(138) 1234·5678",
                                   "１３８１２３４５６７８", "8613812345678"])
def test_a_phone_number_in_any_format_is_looked_up_as_its_e164_form(typed: str) -> None:
    assert search_terms(typed) == SearchTerms(phone="+8613812345678")


@pytest.mark.parametrize(("typed", "digits"), [("5678", "5678"), ("345 678", "345678"), ("１２３４", "1234")])
def test_four_to_ten_digits_that_are_no_whole_number_are_its_last_digits(typed: str, digits: str) -> None:
    assert search_terms(typed) == SearchTerms(phone_last_digits=digits)


@pytest.mark.parametrize(("typed", "name"), [("王小明", "王小明"), ("  欧阳  娜娜 ", "欧阳 娜娜"), ("Li Lei", "Li Lei"),
                                             ("王5", "王5")])
def test_anything_else_is_a_name_with_its_spaces_tidied(typed: str, name: str) -> None:
    assert search_terms(typed) == SearchTerms(name=name)


@pytest.mark.parametrize(("typed", "reason"), [("", "is empty"), ("   ", "is empty"), ("123", "last 4 to 10"),
                                               ("12345678901234567", "last 4 to 10"), ("王" * 101, "at most 100")])
def test_a_box_with_nothing_to_look_for_is_a_422_on_q(typed: str, reason: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        search_terms(typed)
    assert refused.value.field == "q"
    assert reason in refused.value.reason


def person(role: str, team: str | None = "t1", subject: str = "u1") -> Principal:
    return Principal(subject=subject, roles=frozenset({role}), team_id=team)


def test_a_director_searches_everyone_a_manager_their_team_a_consultant_their_own() -> None:
    assert customer_search_scope(person("director", None)) == CustomerSearchScope(everyone=True)
    assert customer_search_scope(person("manager")) == CustomerSearchScope(team_id="t1")
    assert customer_search_scope(person("consultant")) == CustomerSearchScope(owner_id="u1")


@pytest.mark.parametrize("caller", [person("ops"), person("manager", None),
                                    Principal(subject="shop", roles=frozenset(), scopes=frozenset({"leads:read"}))])
def test_who_is_not_on_the_sales_floor_may_not_search(caller: Principal) -> None:
    with pytest.raises(ForbiddenError):
        customer_search_scope(caller)


@pytest.mark.parametrize(("typed", "vin"), [("LRW3E7FA5NC123456", "LRW3E7FA5NC123456"),
                                            ("lrw3e7fa5nc123456", "LRW3E7FA5NC123456"),
                                            ("LRW3E7FA5 NC123456", "LRW3E7FA5NC123456")])
def test_seventeen_vin_characters_in_any_case_are_a_vin(typed: str, vin: str) -> None:
    assert search_terms(typed) == SearchTerms(vin=vin)


@pytest.mark.parametrize(("typed", "plate"), [("沪A12345", "沪A12345"), ("沪a·12345", "沪A12345"),
                                              ("京 AD 12345", "京AD12345"), ("粤Ｂ１２３４５", "粤B12345")])
def test_a_province_letter_and_five_or_six_characters_are_a_plate(typed: str, plate: str) -> None:
    assert search_terms(typed) == SearchTerms(plate=plate)


def test_a_vin_with_i_o_or_q_or_of_another_length_is_not_a_vin() -> None:
    assert search_terms("LRW3E7FA5NC12345O").vin is None
    assert search_terms("LRW3E7FA5NC12345").vin is None
