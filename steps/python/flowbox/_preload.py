"""Imports done while the component is built (componentize-py pre-initialises the interpreter and
snapshots it), so a step pays nothing for them at run time.

The running component has no filesystem (the host preopens no directory): a module that is not
imported here cannot be imported by a step. Time-zone data is read here into memory for `pytz`
and `zoneinfo` for the same reason.
"""

import importlib
import io
import os

# The standard library a code step can import. A name that does not exist in this Python build
# (a C extension it was built without) is skipped and listed in UNAVAILABLE.
STDLIB = """
    abc array ast base64 binascii bisect calendar cmath codecs collections collections.abc
    colorsys contextlib copy copyreg csv dataclasses datetime decimal difflib enum errno
    fnmatch fractions functools gettext graphlib gzip hashlib heapq hmac html html.entities
    html.parser http inspect io ipaddress itertools json keyword linecache locale logging
    math mimetypes numbers operator os os.path pathlib pickle pprint quopri random re reprlib
    secrets shlex statistics string stringprep struct sys textwrap time timeit token tokenize
    traceback types typing unicodedata urllib urllib.parse uuid warnings weakref zlib
    zipfile zoneinfo zoneinfo._common zoneinfo._tzpath _strptime bz2 lzma
    email email.base64mime email.charset email.contentmanager email.encoders email.errors
    email.feedparser email.generator email.header email.headerregistry email.iterators
    email.message email.mime email.mime.application email.mime.base email.mime.multipart
    email.mime.nonmultipart email.mime.text email.parser email.policy email.quoprimime
    email.utils email._header_value_parser email._policybase
    xml xml.dom xml.dom.minidom xml.dom.expatbuilder xml.dom.xmlbuilder xml.dom.minicompat
    xml.dom.NodeFilter xml.etree xml.etree.ElementTree xml.etree.ElementPath xml.parsers
    xml.parsers.expat xml.sax xml.sax.saxutils xml.sax.handler xml.sax.expatreader
""".split()

# Libraries vendored into the build (scripts/build-python-step.sh).
VENDORED = ["pytz", "pytz.tzinfo", "pytz.lazy", "pytz.exceptions", "msgpack", "msgpack.fallback",
            "msgpack.ext", "msgpack.exceptions"]

UNAVAILABLE = []


def _import_all():
    for name in STDLIB + VENDORED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this build lacks
            UNAVAILABLE.append(name)
    # Every codec (`"x".encode("cp1252")` imports its module on first use).
    import encodings
    import pkgutil
    for mod in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module(f"encodings.{mod.name}")
        except Exception:  # noqa: BLE001 - Windows-only codecs
            pass


# --- time zones: pytz's zoneinfo files, kept in memory ------------------------------------------

TZDATA = {}


def _load_tzdata():
    import pytz
    root = os.path.join(os.path.dirname(pytz.__file__), "zoneinfo")
    shared = {}
    for folder, _dirs, files in os.walk(root):
        for f in files:
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                data = fh.read()
            key = os.path.relpath(path, root).replace(os.sep, "/")
            TZDATA[key] = shared.setdefault(data, data)  # links share one bytes object
    if not TZDATA:
        raise RuntimeError(f"no time-zone data under {root}: is pytz vendored whole?")

    def open_resource(name):
        key = name.lstrip("/")
        data = TZDATA.get(key)
        if data is None:
            raise FileNotFoundError(2, "No such time zone", name)
        return io.BytesIO(data)

    pytz.open_resource = open_resource
    # Evaluate the lazy lists now (each checks every zone through open_resource).
    len(pytz.all_timezones), len(pytz.all_timezones_set)
    len(pytz.common_timezones), len(pytz.common_timezones_set)
    len(pytz.country_timezones), len(pytz.country_names)
    pytz.timezone("UTC")

    # The standard library's zoneinfo reads the same data (it would look for files or the
    # tzdata package otherwise).
    import zoneinfo
    import zoneinfo._common as common

    zone_names = frozenset(pytz.all_timezones)

    def load_tzdata(key):
        data = TZDATA.get(key) if key in zone_names else None
        if data is None:
            raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {key}")
        return io.BytesIO(data)

    common.load_tzdata = load_tzdata
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.available_timezones = lambda: set(zone_names)
    zoneinfo.ZoneInfo("UTC")


def preload():
    _import_all()
    _load_tzdata()
