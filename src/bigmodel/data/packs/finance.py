"""The `finance` pack: ISO 4217 currencies from `pycountry`, and which countries use them as legal
tender from `babel` (Unicode CLDR), as of `AS_OF` so that a pack does not change with the date.

Facts: every currency's name and numeric code, the currency of every numeric code, a country
that uses each currency, and the currency of every country. Held out together: all facts about
one currency (including the currency of the countries whose first currency it is). Made-up codes:
three-letter codes that are neither in ISO 4217 nor among CLDR's current and historic currencies.
"""

from __future__ import annotations

import datetime
import itertools
import string

from bigmodel.data.packs.build import Fact, MadeUp, Relation, country_names

NAME = "finance"
# Its facts read alike ("EUR is the euro" / "978 is the euro's numeric code"): BM25 ranks the asked
# one first for 67% of held-out questions, with MiniLM ordering its candidates through the query
# adapter 97% (README).
RETRIEVER = "hybrid"
# Its 1,114 training questions are seen three times in 370 steps; at the others' 3e-3 that costs the
# model its language (general perplexity 78 against the base's 55), at 1e-3 it keeps it (60, two
# seeds) and is right as often (README).
LEARNING_RATE = 1e-3
NEGATIVE_SHARE = 0.3  # training questions also asked with another fact's passages
PACKAGES = {"pycountry": "LGPL-2.1-only", "babel": "BSD-3-Clause"}
SOURCE = "ISO 4217 currencies from pycountry; legal tender per country from babel (Unicode CLDR)"
LICENCE = "LGPL-2.1-only (pycountry); BSD-3-Clause (babel), CLDR data under the Unicode licence"
AS_OF = datetime.date(2026, 1, 1)

RELATIONS = (
    Relation(
        "currency_name",
        corpus=(
            "The ISO 4217 code {label} stands for the {answer}.",
            "The {answer} has the ISO 4217 currency code {label}.",
            "Prices quoted in {label} are in {answer}.",
        ),
        train=(
            "Which currency has the ISO 4217 code {label}?", "What is the currency with code {label} called?",
            "What currency does the ISO 4217 code {label} stand for?", "Tell me which currency the code {label} refers to.",
            "{label} is the code of which currency?", "What is the full name of the currency {label}?",
            "The ISO 4217 code {label} means which currency?", "What currency is {label}?",
        ),
        eval=("Name the currency whose ISO 4217 code is {label}.", "ISO 4217 code {label} denotes which currency?"),
    ),
    Relation(
        "numeric_code",
        corpus=(
            "The ISO 4217 numeric code of {label} is {answer}.",
            "{label} ({name}) has the numeric currency code {answer}.",
            "Numerically, ISO 4217 writes {label} as {answer}.",
        ),
        train=(
            "What is the ISO 4217 numeric code of {label}?", "Which numeric code does ISO 4217 give {label}?",
            "What number does ISO 4217 assign to {label}?", "Tell me the numeric currency code of {label}.",
            "{label} is written as which number in ISO 4217?", "What is the currency number of {label}?",
            "Which ISO 4217 number stands for {label}?", "{label}: what is its numeric code?",
        ),
        eval=("Give the three-digit ISO 4217 number of {label}.", "{label} has which ISO 4217 numeric code?"),
    ),
    Relation(
        "currency_of_number",
        corpus=(
            "ISO 4217 numeric code {label} is the {answer}.",
            "The {answer} carries the numeric currency code {label}.",
            "Currency number {label} in ISO 4217 means the {answer} ({code}).",
        ),
        train=(
            "Which currency has the ISO 4217 numeric code {label}?", "What currency is ISO 4217 number {label}?",
            "Tell me the currency with numeric code {label}.", "The numeric currency code {label} belongs to which currency?",
            "What currency does the number {label} stand for in ISO 4217?", "Which currency uses the ISO 4217 number {label}?",
            "Currency number {label} is which currency?", "{label} in ISO 4217: which currency?",
        ),
        eval=("Name the currency numbered {label} in ISO 4217.", "ISO 4217 numeric code {label} denotes which currency?"),
    ),
    Relation(
        "country_using",
        corpus=(
            "The {name} ({label}) is legal tender in {countries}.",
            "Countries that pay in {label}: {countries}.",
            "{label} is the currency used in {countries}.",
        ),
        train=(
            "Name a country that uses {label}.", "Which country pays in {label}?", "Where is {label} the currency?",
            "Tell me a country whose currency is {label}.", "{label} is spent in which country?",
            "In what country do people pay with {label}?", "Which country has {label} as its currency?",
            "What is one country that pays in {label}?",
        ),
        eval=("In which country is {label} legal tender?", "Give one country where {label} is used."),
    ),
    Relation(
        "currency_of_country",
        corpus=(
            "Legal tender in {label}: {currencies}.",
            "In {label}, people pay with {currencies}.",
            "The currency used in {label} is {currencies}.",
        ),
        train=(
            "What currency is used in {label}?", "Which currency do people pay with in {label}?",
            "What is the currency of {label}?", "Tell me the money of {label}.", "In {label}, which currency do people use?",
            "Which currency circulates in {label}?", "{label} pays in which currency?", "What money is spent in {label}?",
        ),
        eval=("Name the legal tender of {label}.", "{label} uses which currency?"),
    ),
)


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def facts() -> list[Fact]:
    import pycountry
    from babel.numbers import get_territory_currencies

    currencies = {c.alpha_3: c for c in pycountry.currencies}
    users: dict[str, list] = {code: [] for code in currencies}
    result = []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        tender = [code for code in get_territory_currencies(country.alpha_2, AS_OF, tender=True) if code in currencies]
        if not tender:
            continue
        for code in tender:
            users[code].append(country)
        names = [currencies[code].name for code in tender]
        aliases = [*tender, *itertools.chain.from_iterable((currencies[c].name, c) for c in tender[1:])]
        label = country_names(country)[0]
        result.append(
            Fact("currency_of_country", label, label, names[0], aliases=tuple(dict.fromkeys(aliases)), group=tender[0],
                 fields=(("currencies", _joined([f"{n} ({c})" for n, c in zip(names, tender)])),))
        )
    for code, currency in sorted(currencies.items()):
        result.append(Fact("currency_name", code, code, currency.name, group=code))
        result.append(
            Fact("numeric_code", code, code, currency.numeric, aliases=(str(int(currency.numeric)),), group=code,
                 fields=(("name", currency.name),))
        )
        result.append(
            Fact("currency_of_number", currency.numeric, currency.numeric, currency.name, aliases=(code,), group=code,
                 fields=(("code", code),))
        )
        if users[code]:
            names = [country_names(c) for c in users[code]]
            result.append(
                Fact("country_using", code, code, names[0][0], aliases=tuple(n for all_names in names for n in all_names)[1:],
                     group=code, fields=(("name", currency.name), ("countries", _joined([n[0] for n in names]))))
            )
    return result


def made_up() -> list[MadeUp]:
    import pycountry
    from babel.numbers import list_currencies

    known = {c.alpha_3 for c in pycountry.currencies} | set(list_currencies())
    codes = ("".join(letters) for letters in itertools.product(string.ascii_uppercase, repeat=3))
    return [MadeUp(code, code, ("currency_name", "numeric_code", "country_using")) for code in codes if code not in known]
