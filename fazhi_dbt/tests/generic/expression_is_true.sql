{# A rule every row satisfies, written as a SQL condition over the row. #}
{% test expression_is_true(model, expression, where=none) %}
select * from {{ model }}
where not coalesce(({{ expression }}), false)
  {% if where %} and ({{ where }}) {% endif %}
{% endtest %}
