"""The `travel` pack: IATA airport codes from the `airportsdata` package, countries named by
`pycountry` (ISO 3166).

Facts: for every airport with an IATA code, its name, the city it serves (where the data names
one) and its country. Held out together: the facts of one airport (its name often contains its
city). Made-up codes: three-letter codes that are neither an airport nor a metropolitan-area code
in the data.
"""

from __future__ import annotations

import itertools
import string

from bigmodel.data.packs.build import Fact, MadeUp, Relation, country_names

NAME = "travel"
# MiniLM ordering BM25's candidates through the query adapter finds the asked fact first more
# often, and at 1,000 steps its model is right 2.6 times as often, but hallucinates on 24% of the
# questions against BM25's 6%; embedding takes 4 minutes more. With 10% negative examples and
# 3,000 steps it reaches the goals (84.6% right, 4.6% hallucination; README).
RETRIEVER = "bm25"
LEARNING_RATE = 3e-3  # peak fine-tuning learning rate
NEGATIVE_SHARE = 0.3  # training questions also asked with another fact's passages
PACKAGES = {"airportsdata": "MIT", "pycountry": "LGPL-2.1-only"}
SOURCE = "airports with IATA codes from the airportsdata package; country names from pycountry (ISO 3166)"
LICENCE = "MIT (airportsdata); LGPL-2.1-only (pycountry)"

RELATIONS = (
    Relation(
        "airport",
        corpus=(
            "The IATA code {label} belongs to {answer}.",
            "{answer} has the IATA airport code {label}.",
            "Flights to {label} land at {answer}.",
        ),
        train=(
            "Which airport has the IATA code {label}?", "What is the name of the airport with IATA code {label}?",
            "What airport is {label}?", "Tell me the airport whose IATA code is {label}.",
            "The IATA code {label} belongs to which airport?", "What is the full name of airport {label}?",
            "Which airport does the code {label} stand for?", "{label}: which airport is that?",
        ),
        eval=("Name the airport behind the IATA code {label}.", "IATA code {label} identifies which airport?"),
    ),
    Relation(
        "city",
        corpus=(
            "The airport with IATA code {label} serves {answer}.",
            "{label} is an airport in {answer}.",
            "Travellers flying to {label} arrive in {answer}.",
        ),
        train=(
            "Which city does the airport {label} serve?", "In which city is the airport with IATA code {label}?",
            "What city is airport {label} in?", "Tell me the city of the airport {label}.",
            "The airport {label} is in which city?", "Which city has the airport with IATA code {label}?",
            "Where is the airport {label}? Give the city.", "{label} airport: which city?",
        ),
        eval=("Flying into {label}, which city do you arrive in?", "Name the city served by IATA airport {label}."),
    ),
    Relation(
        "country",
        corpus=(
            "The airport with IATA code {label} is in {answer}.",
            "{label} is an airport located in {answer}.",
            "A flight to {label} lands in {answer}.",
        ),
        train=(
            "In which country is the airport {label}?", "Which country is IATA airport {label} in?",
            "What country is the airport {label} located in?", "Tell me which country airport {label} is in.",
            "The airport {label} is in which country?", "Which country has the airport with IATA code {label}?",
            "Where is the airport {label}? Give the country.", "{label} airport: which country?",
        ),
        eval=("Flying into {label}, which country do you land in?", "Name the country of the airport with IATA code {label}."),
    ),
)


def _airport_aliases(name: str) -> tuple[str, ...]:
    """"London Heathrow Airport" is also right as "London Heathrow"."""
    aliases = []
    for suffix in (" International Airport", " Airport"):
        if name.endswith(suffix) and len(name) > len(suffix):
            aliases.append(name[: -len(suffix)])
    return tuple(aliases)


def facts() -> list[Fact]:
    import airportsdata
    import pycountry

    result = []
    for code, airport in sorted(airportsdata.load("IATA").items()):
        result.append(Fact("airport", code, code, airport["name"], aliases=_airport_aliases(airport["name"]), group=code))
        if airport["city"]:
            result.append(Fact("city", code, code, airport["city"], group=code))
        country = pycountry.countries.get(alpha_2=airport["country"])
        if country is not None:  # e.g. "XK" (Kosovo) has no ISO 3166 entry
            names = country_names(country)
            result.append(Fact("country", code, code, names[0], aliases=names[1:], group=code))
    return result


def made_up() -> list[MadeUp]:
    import airportsdata

    known = set(airportsdata.load("IATA")) | set(airportsdata.load_iata_macs())
    codes = ("".join(letters) for letters in itertools.product(string.ascii_uppercase, repeat=3))
    return [MadeUp(code, code, ("airport", "city", "country")) for code in codes if code not in known]
