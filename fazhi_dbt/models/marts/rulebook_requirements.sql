with frequency as (
    select requirement_id, 'frequency' as kind, name, roles, period, required, measure, source
    from {{ source('reference', 'rulebook_frequency_requirements') }}
), filing as (
    select
        requirement_id,
        'filing' as kind,
        name,
        roles,
        -- the due rule in words: `due +1y 3-31` is March 31 of the next year
        'due ' || format('{:+d}', due_year_offset) || 'y ' || due_month || '-' || due_day as period,
        1.0::double as required,
        'report' as measure,
        source
    from {{ source('reference', 'rulebook_filing_requirements') }}
)
select * from frequency
union all
select * from filing
