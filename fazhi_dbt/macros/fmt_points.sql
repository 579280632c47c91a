{# Points as a clerk writes them in a message: 6.0 → '6', 4.5 → '4.5'. #}
{% macro fmt_points(x) -%}
    regexp_replace(round({{ x }}, 2)::decimal(10, 2)::varchar, '\.?0+$', '')
{%- endmacro %}
