{# Every unit of `units` has a row in every year of `years`, whether or not it sent anything. #}
{% test row_per_unit_and_year(model, units, years) %}
select y.year, u.unit_id
from {{ years }} y
cross join {{ units }} u
where not exists (select 1 from {{ model }} m where m.year = y.year and m.unit_id = u.unit_id)
{% endtest %}
