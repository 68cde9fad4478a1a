# Recompute in R every survival number 05_survival reports (tests/_r_oracle.py).
# Usage: Rscript oracle_05.R data.csv out.csv horizon_months "var1,var2" "group1,group2"
# data.csv: time, event (the endpoint), os_time, os_event (death), the Table 4
# variables as text, and 0/1 columns named pre|<col> (pre-specified Cox), sel|<col>
# (selected Cox) and fg|<col> (Fine-Gray). Writes key,value rows.
suppressMessages({library(survival); library(cmprsk)})
a <- commandArgs(TRUE)
d <- read.csv(a[1], check.names = FALSE, stringsAsFactors = FALSE,
              na.strings = c("", "NA"), colClasses = "character")
num <- c("time", "event", "os_time", "os_event", grep("[|]", names(d), value = TRUE))
for (n in num) d[[n]] <- as.numeric(d[[n]])
h <- as.numeric(a[3])
vars <- strsplit(a[4], ",")[[1]]
groups <- strsplit(a[5], ",")[[1]]
keys <- character(0); vals <- numeric(0)
put <- function(k, v) { keys <<- c(keys, k); vals <<- c(vals, if (length(v)) v[1] else NA) }

# Kaplan-Meier at the horizon (log-log Greenwood CI) and log-rank p, per variable
for (v in vars) {
  dd <- d[!is.na(d[[v]]), ]
  for (lv in unique(dd[[v]])) {
    s <- dd[dd[[v]] == lv, ]
    f <- survfit(Surv(time, event) ~ 1, s, conf.type = "log-log")
    sm <- summary(f, times = h, extend = TRUE)
    put(paste("km", v, lv, "surv", sep = "|"), sm$surv)
    put(paste("km", v, lv, "lower", sep = "|"), sm$lower)
    put(paste("km", v, lv, "upper", sep = "|"), sm$upper)
    # where S reached 0: the upper limit just before the last event (NA at S = 1: 1)
    pos <- f$surv > 0 & f$time <= h
    up0 <- if (any(pos)) f$upper[max(which(pos))] else 1
    put(paste("km", v, lv, "upper0", sep = "|"), if (is.na(up0)) 1 else up0)
  }
  if (length(unique(dd[[v]])) > 1) {
    sd <- survdiff(Surv(time, event) ~ g, data.frame(time = dd$time, event = dd$event,
                                                      g = dd[[v]]))
    put(paste("logrank", v, sep = "|"), pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE))
  }
}
# median follow-up (reverse KM) and median event time, R's default log CI
for (what in c("followup", "median")) {
  ev <- if (what == "followup") 1 - d$event else d$event
  tb <- summary(survfit(Surv(d$time, ev) ~ 1))$table
  for (q in c("median", "0.95LCL", "0.95UCL")) put(paste(what, q, sep = "|"), tb[[q]])
}
# Cox (Efron ties) and cox.zph (KM and rank), per model
for (m in c("pre", "sel")) {
  cols <- grep(paste0("^", m, "[|]"), names(d), value = TRUE)
  if (!length(cols)) next
  x <- d[, c("time", "event", cols)]
  names(x) <- c("time", "event", sub(paste0("^", m, "[|]"), "", cols))
  x <- na.omit(x)
  X <- as.matrix(x[, -(1:2), drop = FALSE])
  fit <- coxph(Surv(x$time, x$event) ~ X)
  cf <- summary(fit)$coefficients
  ci <- summary(fit)$conf.int
  for (i in seq_len(ncol(X))) {
    col <- colnames(X)[i]
    put(paste("cox", m, col, "hr", sep = "|"), cf[i, 2])
    put(paste("cox", m, col, "lower", sep = "|"), ci[i, 3])
    put(paste("cox", m, col, "upper", sep = "|"), ci[i, 4])
    put(paste("cox", m, col, "p", sep = "|"), cf[i, 5])
  }
  for (tr in c("km", "rank")) {
    z <- cox.zph(fit, transform = tr, terms = FALSE)$table
    rownames(z) <- c(colnames(X), "GLOBAL")
    for (r in rownames(z)) put(paste("zph", m, tr, r, sep = "|"), z[r, "chisq"])
  }
}
# competing risks: cause 1 local failure, 2 death without local failure, 0 censored
cause <- ifelse(d$event == 1, 1, ifelse(!is.na(d$os_event) & d$os_event == 1, 2, 0))
ctime <- ifelse(cause == 2, d$os_time, d$time)
ok <- !is.na(d$os_event) & !is.na(d$os_time)
tp <- timepoints(cuminc(ctime[ok], cause[ok]), h)
for (k in 1:2) {
  put(paste("cif", "all", k, "est", sep = "|"), tp$est[paste("1", k), 1])
  put(paste("cif", "all", k, "var", sep = "|"), tp$var[paste("1", k), 1])
}
for (g in groups) {
  gg <- d[[g]]
  keep <- ok & !is.na(gg)
  ci <- cuminc(ctime[keep], cause[keep], gg[keep])
  tp <- timepoints(ci, h)
  for (lv in unique(gg[keep])) for (k in 1:2) {
    put(paste("cif", paste0(g, "=", lv), k, "est", sep = "|"), tp$est[paste(lv, k), 1])
    put(paste("cif", paste0(g, "=", lv), k, "var", sep = "|"), tp$var[paste(lv, k), 1])
  }
  for (k in 1:2) put(paste("gray", g, k, sep = "|"), ci$Tests[as.character(k), "stat"])
}
# Fine-Gray on the pre-specified covariates
cols <- grep("^fg[|]", names(d), value = TRUE)
if (length(cols)) {
  keep <- ok & complete.cases(d[, cols, drop = FALSE])
  X <- as.matrix(d[keep, cols, drop = FALSE])
  colnames(X) <- sub("^fg[|]", "", cols)
  f <- crr(ctime[keep], cause[keep], cov1 = X)
  se <- sqrt(diag(f$var))
  for (i in seq_along(f$coef)) {
    put(paste("fg", colnames(X)[i], "shr", sep = "|"), exp(f$coef[i]))
    put(paste("fg", colnames(X)[i], "se", sep = "|"), se[i])
  }
}
write.csv(data.frame(key = keys, value = vals), a[2], row.names = FALSE)
