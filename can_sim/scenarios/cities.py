"""The catalogue of cities a scenario can be set in: real centre coordinates, time zones and local names."""

from __future__ import annotations

from dataclasses import dataclass

from telematics.errors import BadInput


class UnknownCityError(BadInput):
    """A city name is not in the catalogue."""


@dataclass(frozen=True, slots=True)
class City:
    """A city centre and the local names the synthetic network, fleets and zones are given."""

    key: str
    code: str
    lat: float
    lon: float
    timezone: str
    country: str
    haulier_name: str
    rental_name: str
    market: str
    precincts: tuple[str, str]
    square: str
    hub: str
    event: str


CITIES: dict[str, City] = {
    city.key: city
    for city in (
        City("berlin", "BER", 52.52, 13.405, "Europe/Berlin", "DE", "Spree Logistik GmbH",
             "Hauptstadt Transporter-Vermietung", "Weihnachtsmarkt Breitscheidplatz",
             ("Fußgängerzone Wilmersdorfer Straße", "Fußgängerzone Tauentzienstraße"),
             "Alexanderplatz", "Hauptbahnhof Vorplatz", "Fanmeile Straße des 17. Juni"),
        City("nice", "NCE", 43.70, 7.27, "Europe/Paris", "FR", "Transports Azur SARL",
             "Riviera Location Utilitaires", "Marché de Noël Place Masséna",
             ("Rue Masséna piétonne", "Vieux-Nice Cours Saleya"),
             "Place Garibaldi", "Parvis Gare de Nice-Ville", "Promenade des Anglais fan zone"),
        City("stockholm", "STO", 59.33, 18.06, "Europe/Stockholm", "SE", "Mälardalens Åkeri AB",
             "Stockholms Skåpbilsuthyrning AB", "Julmarknad Stortorget",
             ("Drottninggatan gågata", "Biblioteksgatan gågata"),
             "Sergels torg", "Centralstationen entré", "Kungsträdgården evenemang"),
        City("london", "LON", 51.51, -0.12, "Europe/London", "GB", "Thames Haulage Ltd",
             "Capital Van Hire Ltd", "Leicester Square Christmas Market",
             ("Oxford Street pedestrian zone", "Covent Garden piazza streets"),
             "Trafalgar Square", "King's Cross forecourt", "Westminster Bridge events"),
        City("barcelona", "BCN", 41.39, 2.17, "Europe/Madrid", "ES", "Transports Llobregat SL",
             "Lloguer de Furgonetes BCN SL", "Fira de Santa Llúcia",
             ("La Rambla", "Portal de l'Àngel"),
             "Plaça de Catalunya", "Estació de Sants plaça", "Passeig de Lluís Companys"),
    )
}


def resolve_cities(names: list[str] | None) -> list[City]:
    """City names (case-insensitive) to catalogue entries; None means every city, in catalogue order."""
    if names is None:
        return list(CITIES.values())
    if not names:
        raise UnknownCityError("cities: got an empty list, expected at least one of " + ", ".join(CITIES))
    out = []
    for name in names:
        city = CITIES.get(name.strip().lower())
        if city is None:
            raise UnknownCityError(f"cities: got {name!r}, expected one of {', '.join(CITIES)}")
        out.append(city)
    return out
