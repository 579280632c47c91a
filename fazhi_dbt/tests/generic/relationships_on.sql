{# A key of several columns: every row's key is a row of `to` (e.g. each task score has its unit score). #}
{% test relationships_on(model, to, columns) %}
select {% for c in columns %}m.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
from {{ model }} m
where not exists (
    select 1 from {{ to }} t
    where {% for c in columns %}t.{{ c }} = m.{{ c }}{% if not loop.last %} and {% endif %}{% endfor %}
)
{% endtest %}
