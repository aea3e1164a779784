//! The defects the generator injects: their families, the rule the engine reports for
//! each, and the order in which they are handed out.

/// A family of defects, as the standard groups its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// A required field is missing or blank.
    Required,
    /// A value does not match its field's pattern.
    Pattern,
    /// A value is too short or too long.
    Length,
    /// A code that is not in its code list.
    CodeList,
    /// A USCC or identity number whose check character is wrong.
    CheckDigit,
    /// A region code that is not listed, or not within the node.
    Region,
    /// A date that is no date, or is in the future.
    Date,
    /// A field required or forbidden depending on another one.
    Conditional,
    /// A reference to something the node does not know, or may not be claimed.
    Reference,
    /// Fields that contradict each other, within a record or across records.
    CrossField,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::Required,
        Family::Pattern,
        Family::Length,
        Family::CodeList,
        Family::CheckDigit,
        Family::Region,
        Family::Date,
        Family::Conditional,
        Family::Reference,
        Family::CrossField,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Required => "required",
            Family::Pattern => "pattern",
            Family::Length => "length",
            Family::CodeList => "code_list",
            Family::CheckDigit => "check_digit",
            Family::Region => "region",
            Family::Date => "date",
            Family::Conditional => "conditional",
            Family::Reference => "reference",
            Family::CrossField => "cross_field",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one defect a sample carries: its family, the rule id the engine reports for it
/// and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Defect {
    pub family: Family,
    pub rule: String,
    pub field: String,
}

impl Defect {
    /// True when the rule is a warning: the record is accepted with it, not rejected.
    pub fn is_warning(&self) -> bool {
        WARNING_RULES.contains(&self.rule.as_str())
    }

    pub(crate) fn of(kind: Kind) -> Defect {
        let (family, rule, field) = kind.meta();
        Defect {
            family,
            rule: rule.to_string(),
            field: field.to_string(),
        }
    }
}

/// The warning rules among the injected ones.
const WARNING_RULES: &[&str] = &[
    "action.subject_name.mismatch",
    "action.subject_uscc.unknown_subject",
];

/// Every concrete defect the generator knows how to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    // item
    ItemNameTooShort,
    ItemNameMissing,
    ItemTypeUnknown,
    ItemDepartmentCheck,
    ItemEffectiveNoDate,
    ItemRegionPrefix,
    ItemRegionUnlisted,
    LegalBasisTooShort,
    LegalBasisMissing,
    ItemTypeMismatch,
    ItemDepartmentNotSubmitter,
    ItemEffectiveMissing,
    // subject
    LegalRepMissing,
    SubjectNameMissing,
    LegalRepIdCheck,
    SubjectRegionUnlisted,
    EstablishedFuture,
    SubjectTypeUnknown,
    EstablishedNoDate,
    SubjectRegionOutside,
    SubjectTypeMissing,
    SubjectRegionMissing,
    // officer
    OfficerDatesReversed,
    OfficerIdCheck,
    OfficerNameMissing,
    OfficerRegionOutside,
    OfficerUntilNoDate,
    OfficerDepartmentNotSubmitter,
    OfficerDepartmentCheck,
    OfficerIdMissing,
    OfficerRegionUnlisted,
    OfficerFromMissing,
    // action
    ActionItemCodePattern,
    ActionUnknownItem,
    ActionDateFuture,
    ActionTypeMismatch,
    PenaltyMissingForCf,
    ActionRegionOutside,
    ActionResultUnknown,
    ActionOfficersMissing,
    ActionSubjectCheck,
    ActionOneOfficer,
    ActionUnknownOfficer,
    PenaltyForNonCf,
    ActionCertPattern,
    ActionOfficerNotValid,
    ActionBeforeItemEffective,
    ActionOtherDepartmentsItem,
    ActionDateNoDate,
    ActionTypeUnknown,
    ActionRegionUnlisted,
    ActionDepartmentCheck,
    ActionResultMissing,
    ActionDateMissing,
    ActionSubjectNameMismatch,
    ActionUnknownSubject,
}

/// The order defects are handed out in, per data set: each data set's own families first,
/// so that a small set already holds every family; warnings last.
pub(crate) const ITEM_ORDER: &[Kind] = &[
    Kind::ItemNameTooShort,
    Kind::ItemNameMissing,
    Kind::ItemTypeUnknown,
    Kind::ItemDepartmentCheck,
    Kind::ItemEffectiveNoDate,
    Kind::ItemRegionPrefix,
    Kind::ItemRegionUnlisted,
    Kind::LegalBasisTooShort,
    Kind::ItemDepartmentNotSubmitter,
    Kind::LegalBasisMissing,
    Kind::ItemTypeMismatch,
    Kind::ItemEffectiveMissing,
];

pub(crate) const SUBJECT_ORDER: &[Kind] = &[
    Kind::LegalRepMissing,
    Kind::SubjectNameMissing,
    Kind::LegalRepIdCheck,
    Kind::SubjectRegionUnlisted,
    Kind::EstablishedFuture,
    Kind::SubjectTypeUnknown,
    Kind::EstablishedNoDate,
    Kind::SubjectRegionOutside,
    Kind::SubjectTypeMissing,
    Kind::SubjectRegionMissing,
];

pub(crate) const OFFICER_ORDER: &[Kind] = &[
    Kind::OfficerDatesReversed,
    Kind::OfficerIdCheck,
    Kind::OfficerNameMissing,
    Kind::OfficerRegionOutside,
    Kind::OfficerUntilNoDate,
    Kind::OfficerDepartmentNotSubmitter,
    Kind::OfficerDepartmentCheck,
    Kind::OfficerIdMissing,
    Kind::OfficerRegionUnlisted,
    Kind::OfficerFromMissing,
];

pub(crate) const ACTION_ORDER: &[Kind] = &[
    Kind::ActionItemCodePattern,
    Kind::ActionUnknownItem,
    Kind::ActionDateFuture,
    Kind::ActionTypeMismatch,
    Kind::PenaltyMissingForCf,
    Kind::ActionRegionOutside,
    Kind::ActionResultUnknown,
    Kind::ActionOfficersMissing,
    Kind::ActionSubjectCheck,
    Kind::ActionOneOfficer,
    Kind::ActionUnknownOfficer,
    Kind::PenaltyForNonCf,
    Kind::ActionCertPattern,
    Kind::ActionOfficerNotValid,
    Kind::ActionBeforeItemEffective,
    Kind::ActionOtherDepartmentsItem,
    Kind::ActionDateNoDate,
    Kind::ActionTypeUnknown,
    Kind::ActionRegionUnlisted,
    Kind::ActionDepartmentCheck,
    Kind::ActionResultMissing,
    Kind::ActionDateMissing,
    Kind::ActionSubjectNameMismatch,
    Kind::ActionUnknownSubject,
];

impl Kind {
    /// Family, rule id and field.
    pub(crate) fn meta(self) -> (Family, &'static str, &'static str) {
        use Family::*;
        match self {
            Kind::ItemNameTooShort => (Length, "item.item_name.length", "item_name"),
            Kind::ItemNameMissing => (Required, "item.item_name.required", "item_name"),
            Kind::ItemTypeUnknown => (CodeList, "item.item_type.code", "item_type"),
            Kind::ItemDepartmentCheck => {
                (CheckDigit, "item.department_code.uscc", "department_code")
            }
            Kind::ItemEffectiveNoDate => (Date, "item.effective_date.date", "effective_date"),
            Kind::ItemRegionPrefix => (CrossField, "item.item_code.region_prefix", "item_code"),
            Kind::ItemRegionUnlisted => (Region, "item.region_code.region", "region_code"),
            Kind::LegalBasisTooShort => (Length, "item.legal_basis.length", "legal_basis"),
            Kind::LegalBasisMissing => (Required, "item.legal_basis.required", "legal_basis"),
            Kind::ItemTypeMismatch => (CrossField, "item.item_type.matches_code", "item_type"),
            Kind::ItemDepartmentNotSubmitter => (
                Reference,
                "item.department_code.submitter",
                "department_code",
            ),
            Kind::ItemEffectiveMissing => {
                (Required, "item.effective_date.required", "effective_date")
            }

            Kind::LegalRepMissing => (
                Conditional,
                "subject.legal_rep.required_for_enterprise",
                "legal_rep",
            ),
            Kind::SubjectNameMissing => (Required, "subject.name.required", "name"),
            Kind::LegalRepIdCheck => (CheckDigit, "subject.legal_rep_id.id_card", "legal_rep_id"),
            Kind::SubjectRegionUnlisted => (Region, "subject.region_code.region", "region_code"),
            Kind::EstablishedFuture => (
                Date,
                "subject.established_date.not_future",
                "established_date",
            ),
            Kind::SubjectTypeUnknown => (CodeList, "subject.subject_type.code", "subject_type"),
            Kind::EstablishedNoDate => (Date, "subject.established_date.date", "established_date"),
            Kind::SubjectRegionOutside => {
                (Region, "subject.region_code.within_node", "region_code")
            }
            Kind::SubjectTypeMissing => (Required, "subject.subject_type.required", "subject_type"),
            Kind::SubjectRegionMissing => (Required, "subject.region_code.required", "region_code"),

            Kind::OfficerDatesReversed => (CrossField, "officer.valid_until.order", "valid_until"),
            Kind::OfficerIdCheck => (CheckDigit, "officer.id_number.id_card", "id_number"),
            Kind::OfficerNameMissing => (Required, "officer.name.required", "name"),
            Kind::OfficerRegionOutside => {
                (Region, "officer.region_code.within_node", "region_code")
            }
            Kind::OfficerUntilNoDate => (Date, "officer.valid_until.date", "valid_until"),
            Kind::OfficerDepartmentNotSubmitter => (
                Reference,
                "officer.department_code.submitter",
                "department_code",
            ),
            Kind::OfficerDepartmentCheck => (
                CheckDigit,
                "officer.department_code.uscc",
                "department_code",
            ),
            Kind::OfficerIdMissing => (Required, "officer.id_number.required", "id_number"),
            Kind::OfficerRegionUnlisted => (Region, "officer.region_code.region", "region_code"),
            Kind::OfficerFromMissing => (Required, "officer.valid_from.required", "valid_from"),

            Kind::ActionItemCodePattern => (Pattern, "action.item_code.pattern", "item_code"),
            Kind::ActionUnknownItem => (Reference, "action.item_code.reference", "item_code"),
            Kind::ActionDateFuture => (Date, "action.action_date.not_future", "action_date"),
            Kind::ActionTypeMismatch => {
                (CrossField, "action.action_type.matches_item", "action_type")
            }
            Kind::PenaltyMissingForCf => (
                Conditional,
                "action.penalty_amount.required_for_cf",
                "penalty_amount",
            ),
            Kind::ActionRegionOutside => (Region, "action.region_code.within_node", "region_code"),
            Kind::ActionResultUnknown => (CodeList, "action.result.code", "result"),
            Kind::ActionOfficersMissing => (
                Required,
                "action.officer_cert_nos.required",
                "officer_cert_nos",
            ),
            Kind::ActionSubjectCheck => (CheckDigit, "action.subject_uscc.uscc", "subject_uscc"),
            Kind::ActionOneOfficer => (CrossField, "action.officers.min2", "officer_cert_nos"),
            Kind::ActionUnknownOfficer => {
                (Reference, "action.officers.reference", "officer_cert_nos")
            }
            Kind::PenaltyForNonCf => (
                Conditional,
                "action.penalty_amount.only_for_cf",
                "penalty_amount",
            ),
            Kind::ActionCertPattern => (
                Pattern,
                "action.officer_cert_nos.pattern",
                "officer_cert_nos",
            ),
            Kind::ActionOfficerNotValid => (
                CrossField,
                "action.officers.valid_on_date",
                "officer_cert_nos",
            ),
            Kind::ActionBeforeItemEffective => (
                CrossField,
                "action.action_date.before_item_effective",
                "action_date",
            ),
            Kind::ActionOtherDepartmentsItem => (
                CrossField,
                "action.department_code.matches_item",
                "department_code",
            ),
            Kind::ActionDateNoDate => (Date, "action.action_date.date", "action_date"),
            Kind::ActionTypeUnknown => (CodeList, "action.action_type.code", "action_type"),
            Kind::ActionRegionUnlisted => (Region, "action.region_code.region", "region_code"),
            Kind::ActionDepartmentCheck => {
                (CheckDigit, "action.department_code.uscc", "department_code")
            }
            Kind::ActionResultMissing => (Required, "action.result.required", "result"),
            Kind::ActionDateMissing => (Required, "action.action_date.required", "action_date"),
            Kind::ActionSubjectNameMismatch => {
                (CrossField, "action.subject_name.mismatch", "subject_name")
            }
            Kind::ActionUnknownSubject => (
                Reference,
                "action.subject_uscc.unknown_subject",
                "subject_uscc",
            ),
        }
    }
}
