"""keys(), values() and items() of a frost.MappedDict (views/view_mapped.c makes them).

The collections.abc views, iterated by the dict's own C iterators: entries are read
in order from the table, not looked up again by key, so a damaged image gives
frost.SnapshotError where the damage is, never a KeyError for a key the dict listed.
As dict's views (and FrozenDict's): reversed() and .mapping, the MappedDict itself
(read-only already, where a dict's view gives a mappingproxy), and they do not pickle
or copy.copy(): TypeError "cannot pickle '...' object" at every protocol (they pickled
by their mapping, and copied to a view, where dict's and FrozenDict's refuse).
"""
from collections.abc import ItemsView, KeysView, ValuesView


class _MappingAttribute:
    __slots__ = ()

    @property
    def mapping(self):
        return self._mapping

    def __reduce__(self):
        # as dict_keys and FrozenDictKeys (views/values.c frost__no_pickle) answer;
        # object.__reduce_ex__ calls it at every protocol, and so do copy.copy/deepcopy
        cls = type(self)
        raise TypeError(f"cannot pickle '{cls.__module__}.{cls.__qualname__}' object")


class MappedKeysView(_MappingAttribute, KeysView):
    __slots__ = ()

    def __iter__(self):
        return iter(self._mapping)

    def __reversed__(self):
        return reversed(self._mapping)

    def __repr__(self):
        return f"MappedKeysView({self._mapping!r})"


class MappedValuesView(_MappingAttribute, ValuesView):
    __slots__ = ()

    def __iter__(self):
        return self._mapping._iter_values()

    def __reversed__(self):
        return self._mapping._reversed_values()

    def __contains__(self, value):
        # the values in order, as dict's (ValuesView's looks each key up again:
        # a NaN key, which no lookup finds, made every `in` a KeyError)
        for v in self:
            if v is value or v == value:
                return True
        return False

    def __repr__(self):
        return f"MappedValuesView({self._mapping!r})"


class MappedItemsView(_MappingAttribute, ItemsView):
    __slots__ = ()

    def __iter__(self):
        return self._mapping._iter_items()

    def __reversed__(self):
        return self._mapping._reversed_items()

    def __contains__(self, item):
        # as dict.items() answers: anything but a (key, value) pair is just absent;
        # an unhashable key raises TypeError (the mapping's lookup says so)
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        key, value = item
        try:
            found = self._mapping[key]
        except KeyError:
            return False
        return found is value or found == value

    def __repr__(self):
        return f"MappedItemsView({self._mapping!r})"
