{#- The ranking rules of the rulebook, shared by every ranked table (units within a role, regions).
    `score` names the column that ranks: a unit ranks by its score scaled to the full sheet, so that a
    task that does not apply (不适用) neither helps nor hurts. -#}

{% macro ranking_columns(partition_by, score='score') %}
        -- competition ranking (1, 2, 2, 4); an unscored subject is listed but not ranked
        case when {{ score }} is not null
             then rank() over (partition by {{ partition_by }} order by {{ score }} desc nulls last) end as rank,
        count({{ score }}) over (partition by {{ partition_by }}) as rank_total,
        row_number() over (partition by {{ partition_by }} order by {{ score }} asc nulls last) as from_bottom
{% endmacro %}

{% macro bottom_cuts(ranked, partition_by, score='score') %}
    -- the score at the last `bottom_places` places (rulebook_info), ties at the cut included
    select {{ partition_by }}, max(k.{{ score }}) as cut
    from {{ ranked }} k
    cross join {{ source('reference', 'rulebook_info') }} i
    where k.{{ score }} is not null and k.from_bottom <= i.bottom_places
    group by all
{% endmacro %}

{% macro is_bottom(ranked_alias, cut_alias, score='score') %}
    -- those tied for first are never "last", even when every ranked subject is tied
    coalesce({{ ranked_alias }}.{{ score }} <= {{ cut_alias }}.cut and {{ ranked_alias }}.rank > 1, false)
{% endmacro %}
